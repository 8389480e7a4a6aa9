"""The rollout guards on given figures: which apply to which task, and the class-distribution shift."""

from __future__ import annotations

import pytest

from attnops.serving.rollout.figures import Figures
from attnops.serving.rollout.guards import Guards, class_shift, judge
from attnops.serving.rollout.probes import PROBES, ItemScores


def _summary(latency_s: float, items: list[ItemScores], requests: int = 30):
    figures = Figures()
    for _ in range(requests):
        figures.answered("1", latency_s, items)
    return figures.summary()


@pytest.mark.parametrize(
    ("ours", "theirs", "shift"),
    [
        ({"a": 5, "b": 5}, {"a": 50, "b": 50}, 0.0),
        ({"a": 10}, {"b": 3}, 1.0),
        ({"a": 3, "b": 1}, {"a": 1, "b": 3}, 0.5),
        ({"a": 2, "b": 2}, {"a": 1, "b": 1, "c": 2}, 0.5),
        ({}, {"a": 1}, None),
    ],
)
def test_class_shift_is_the_total_variation_distance_of_the_label_shares(ours, theirs, shift):
    assert class_shift(ours, theirs) == (pytest.approx(shift) if shift is not None else None)


def test_each_task_is_judged_by_the_service_guards_and_its_probes_quality_guards():
    translated = _summary(0.1, [ItemScores(-1.0, 0.5)])
    assert [v.guard for v in judge(translated, translated, Guards(), PROBES["translation"].guards)] == [
        "requests",
        "error_rate",
        "p95_ratio",
        "agreement",
        "logprob_drop",
        "entropy_rise",
    ]
    labelled = _summary(0.1, [ItemScores(-0.2, label="sport")])
    guards = [v.guard for v in judge(labelled, labelled, Guards(), PROBES["classification"].guards)]
    assert "class_shift" in guards and "entropy_rise" not in guards


def test_a_candidate_whose_classes_shift_fails_that_guard_and_names_its_figure():
    champion = _summary(0.1, [ItemScores(-0.2, label="sport"), ItemScores(-0.2, label="tech")])
    candidate = _summary(0.1, [ItemScores(-0.2, label="sport"), ItemScores(-0.2, label="sport")])
    candidate.agreement = 0.5
    verdicts = {v.guard: v for v in judge(candidate, champion, Guards(), PROBES["classification"].guards)}
    assert not verdicts["class_shift"].passed and str(verdicts["class_shift"]).startswith("class_shift 0.5 (FAILED")
    assert verdicts["logprob_drop"].passed and verdicts["error_rate"].passed

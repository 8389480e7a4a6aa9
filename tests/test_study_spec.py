"""The study's budget, seed spread and time-to-threshold, and its command-line errors (no training)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from attnops.cli.main import main
from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.study.report import Child, spread
from attnops.pipelines.study.spec import Budget

CONFIGS = REPO_ROOT / "pipelines" / "configs"


def test_budget_takes_exactly_one_limit_and_whole_validation_intervals():
    assert Budget(minutes=4).overrides()[0] == "train.max_minutes=4.0"
    assert Budget(steps=100, val_every=25).overrides()[0] == "train.max_steps=100"
    for bad in ({}, {"steps": 100, "minutes": 4}, {"steps": 90, "val_every": 25}):
        with pytest.raises(ValidationError):
            Budget(**bad)


def test_spread_is_mean_and_sample_std_over_seeds():
    assert spread([], 2) == "-"
    assert spread([31.0], 2) == "31.00"
    assert spread([30.0, 31.0, 32.0], 2) == "31.00 ± 1.00"
    assert spread([0.9765, 0.9812, 0.9859], 2) == "0.981 ± 0.005"  # a fraction keeps three significant figures
    assert spread([0.0123], 2) == "0.0123"


def test_time_to_threshold_is_the_first_validation_at_or_above_it():
    child = Child("gru-dot", 1, "run", {}, "passed", [(60.0, 10.0), (120.0, 28.3), (180.0, 27.0)])
    assert child.time_to(28.3) == 120.0
    assert child.time_to(30.0) is None
    assert child.time_to(None) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(CONFIGS / "translation/gru-dot.yaml")], "give a budget"),
        (["--budget-steps", "100"], "give the experiment configs"),
        (["--table-only"], "--table-only writes the table of an existing study"),
        (["--resume", "x", str(CONFIGS / "translation/gru-dot.yaml")], "--resume continues a study"),
        ([str(CONFIGS / "translation/gru-dot.yaml"), "--budget-steps", "90", "--val-every", "25"], "multiple of"),
        ([str(CONFIGS / "translation/gru-dot.yaml"), str(CONFIGS / "captioning/flickr8k-soft.yaml"),
          "--budget-steps", "100"], "one task"),
        ([str(CONFIGS / "translation/gru-dot.yaml"), str(CONFIGS / "translation/gru-dot.yaml"),
          "--budget-steps", "100"], "different file names"),
    ],
)  # fmt: skip
def test_bad_study_arguments_end_with_one_line_and_code_2(args, message, capsys):
    assert main(["study", *args]) == 2
    assert message in capsys.readouterr().err

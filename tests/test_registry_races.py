"""Concurrent promotions of one alias against ``mlflow server`` on PostgreSQL end in a consistent registry."""

from __future__ import annotations

import threading

import pytest

from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.export import export_run
from attnops.pipelines.registry import HISTORY_TAG, list_versions, promote, register, rollback
from attnops.pipelines.registry_lock import lock_name
from attnops.pipelines.train import train

pytestmark = pytest.mark.slow

NAME = "translation-race"
RACES = 50
TINY = [
    "data.max_train_examples=500",
    "data.max_eval_examples=8",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=16",
    "train.max_steps=1",
    "train.eval_beam_size=1",
    "train.max_decode_length=8",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
    "tracking.experiment=registry-races",
]


@pytest.fixture(scope="module")
def versions(postgres_mlflow_server) -> list[str]:
    """Four versions of NAME with the same gate value (so every promotion passes the gate), none promoted."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", postgres_mlflow_server)
        run_id = train(load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)).run_id
        export_run(run_id)
        yield [str(register(run_id, NAME).version) for _ in range(4)]


@pytest.fixture
def client(versions, postgres_mlflow_server, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", postgres_mlflow_server)
    return MlflowClient(postgres_mlflow_server)


def _race(candidates: list[str]) -> list:
    """Promote each candidate from its own thread, all released at once; return the outcomes."""
    start = threading.Barrier(len(candidates))
    outcomes: list = [None] * len(candidates)

    def attempt(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = promote(NAME, candidates[i])
        except Exception as exc:  # collected and asserted on below
            outcomes[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(candidates))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def _history(client) -> list[str]:
    return client.get_registered_model(NAME).tags[HISTORY_TAG.format(alias="champion")].split(",")


def test_racing_promotions_of_one_alias_stay_consistent(client, versions):
    promote(NAME, versions[0])
    tags_before = {v: client.get_model_version(NAME, v).tags for v in versions}
    consistent = 0
    for race in range(RACES):
        holder = str(client.get_model_version_by_alias(NAME, "champion").version)
        candidates = [v for v in versions if v != holder][:2]
        if race % 2:
            candidates.reverse()
        outcomes = _race(candidates)
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert not errors, f"race {race}: {errors}"
        final = str(client.get_model_version_by_alias(NAME, "champion").version)
        history = _history(client)
        # Serialized: one promotion replaced the old holder, the other replaced that one, and it holds the alias.
        first = next(o for o in outcomes if o.previous == holder)
        second = next(o for o in outcomes if o is not first)
        assert second.previous == first.version and final == second.version, f"race {race}: {outcomes}"
        assert history[-2:] == [first.version, second.version] and len(history) == len(set(history))
        consistent += 1
    assert consistent == RACES
    # No version lost or half-written: the same versions, with the same tags, and no lock left behind.
    assert {v: client.get_model_version(NAME, v).tags for v in versions} == tags_before
    assert not client.search_model_versions(f"name='{lock_name(NAME, 'champion')}'"), "a lock ticket left behind"
    assert {row.version for row in list_versions(NAME)} == set(versions)


def test_rollback_walks_the_raced_history_back(client, versions):
    history = _history(client)
    done = rollback(NAME)
    assert (done.previous, done.version) == (history[-1], history[-2])
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == history[-2]
    assert _history(client) == history[:-1]

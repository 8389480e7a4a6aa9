"""The local stack end to end: up, train into MLflow on PostgreSQL, register and promote, serve from the
two-node Ray cluster, one request; autoscaling up and down and a killed replica, under load; down with no
process left."""

from __future__ import annotations

import os
import time
import uuid

import httpx
import psutil
import psycopg
import pytest

from attnops.benchmarks.steady_load import CONNECTION, SteadyLoad, seconds_until
from attnops.cli import main
from attnops.infra.stack import (
    DEFAULT_POSTGRES,
    POSTGRES_ENV,
    deploy,
    deployment_details,
    down,
    drop_database,
    ray_processes,
    running_replicas,
    status,
    up,
)
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.export import export_run
from attnops.pipelines.registry import promote, register
from attnops.pipelines.train import train

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.postgres, pytest.mark.subprocess]

TINY = [
    "registry.model_name=translation-de-en",
    "data.max_train_examples=1000",
    "data.max_eval_examples=16",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=24",
    "train.max_steps=20",
    "train.eval_beam_size=1",
    "train.max_decode_length=16",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
    "tracking.experiment=stack",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A stack on a fresh database; always brought down, and its database dropped."""
    folder = tmp_path_factory.mktemp("stack")
    admin = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES
    database = f"attnops_stack_{uuid.uuid4().hex[:12]}"
    try:
        state = up(admin, database, folder)
        yield state, folder
    finally:
        down(folder)
        drop_database(admin, database)


@pytest.fixture(scope="module")
def served(stack):
    """A tiny translation model trained into the stack's MLflow, promoted, and served by its cluster."""
    state, folder = stack
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", state.tracking_uri)
        run_id = train(load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)).run_id
        export_run(run_id)
        version = str(register(run_id).version)
        promote("translation-de-en", version)
    deploy(state, ("translation",), folder)
    return run_id, version


def test_stack_trains_registers_and_serves_from_the_cluster(stack, served, monkeypatch, capsys):
    state, folder = stack
    run_id, version = served
    with psycopg.connect(state.database_uri) as db:  # the run and the alias live in PostgreSQL
        assert db.execute("SELECT status FROM runs WHERE run_uuid = %s", (run_id,)).fetchone() == ("FINISHED",)
        alias = db.execute("SELECT version FROM registered_model_aliases WHERE alias = 'champion'").fetchone()
        assert alias == (int(version),)

    response = httpx.post(f"{state.serve_url}/v1/translate", json={"text": "Ein Hund läuft im Park."}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["translations"][0]["text"] and body["model"]["version"] == version

    rows = {row.name.strip(): row for row in status(folder)}
    assert all(row.healthy for row in rows.values()), rows
    assert rows["ray"].detail.startswith("2 nodes alive") and rows["Translator"].detail.endswith("1 running replicas")

    monkeypatch.setenv("ATTNOPS_STACK_DIR", str(folder))
    assert main(["stack", "status"]) == 0
    assert "Translator" in capsys.readouterr().out


SCALING = {
    "Translator": {
        "autoscaling_config": {
            "min_replicas": 1,
            "max_replicas": 2,
            "target_ongoing_requests": 2,
            "upscale_delay_s": 2,
            "downscale_delay_s": 10,
            "look_back_period_s": 5,
            "metrics_interval_s": 1,
        }
    }
}
SENTENCE = {"text": "Ein Hund läuft im Park."}


def _replica_count(state) -> int:
    return len(running_replicas(state, "Translator"))


def test_translator_scales_up_under_load_and_back_down(stack, served, capsys):
    state, folder = stack
    deploy(state, ("translation",), folder, deployment_options=SCALING)
    assert seconds_until(lambda: _replica_count(state) == 1, timeout_s=60) is not None
    with SteadyLoad(f"{state.serve_url}/v1/translate", SENTENCE, clients=16) as load:
        decided = seconds_until(lambda: deployment_details(state, "Translator")["target_num_replicas"] == 2, 90)
        up = seconds_until(lambda: _replica_count(state) == 2, timeout_s=90)
        time.sleep(3)  # a few seconds served by both replicas
    down_decided = seconds_until(lambda: deployment_details(state, "Translator")["target_num_replicas"] == 1, 90)
    down_s = seconds_until(lambda: _replica_count(state) == 1, timeout_s=90)
    counts = load.counts()
    with capsys.disabled():
        print(f"\nunder load: target 1→2 after {decided:.1f} s (upscale_delay_s 2), 2 running {up:.1f} s later;")
        print(f"load stopped: target 2→1 after {down_decided:.1f} s (downscale_delay_s 10, look_back_period_s 5),")
        print(f"1 running {down_s:.1f} s later; outcomes {dict(counts)}")
    assert None not in (decided, up, down_decided, down_s)
    assert set(counts) == {200} and counts[200] > 0  # no 5xx, no lost request, while scaling either way


def test_a_killed_replica_is_replaced_under_load(stack, served, capsys):
    state, folder = stack
    assert seconds_until(lambda: _replica_count(state) == 1, timeout_s=90) is not None
    (victim,) = running_replicas(state, "Translator")
    with SteadyLoad(f"{state.serve_url}/v1/translate", SENTENCE, clients=8) as load:
        assert seconds_until(lambda: load.counts()[200] >= 20, timeout_s=60) is not None
        killed = time.monotonic()
        psutil.Process(victim["pid"]).kill()

        def recovered() -> bool:
            return any(o.status == 200 and o.sent_s > killed for o in load.outcomes)

        recovery = seconds_until(recovered, timeout_s=90, interval_s=0.1)
        time.sleep(2)
    replaced = running_replicas(state, "Translator")
    counts = load.counts()
    with capsys.disabled():
        print(f"\nreplica pid {victim['pid']} killed; first success of a request sent after it: {recovery:.1f} s;")
        print(f"outcomes {dict(counts)}; running replicas now {[r['pid'] for r in replaced]}")
    assert recovery is not None and recovery < 30
    assert set(counts) <= {200, 503, CONNECTION}  # no 500, and no request accepted then left unanswered
    assert [r["replica_id"] for r in replaced] != [victim["replica_id"]]


def test_down_leaves_no_process(stack, monkeypatch):
    state, folder = stack
    monkeypatch.setenv("ATTNOPS_STACK_DIR", str(folder))
    assert len(ray_processes(state.ray_temp_dir)) >= 4  # two raylets, GCS, dashboard, workers
    stopped = down(folder)
    assert state.mlflow_pid in stopped
    assert ray_processes(state.ray_temp_dir) == []
    assert not psutil.pid_exists(state.mlflow_pid)
    assert main(["stack", "down"]) == 0  # idempotent: nothing left to stop

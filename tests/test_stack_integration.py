"""The local stack end to end: up, train into MLflow on PostgreSQL, register and promote, serve from the
two-node Ray cluster, one request, down with no process left."""

from __future__ import annotations

import os
import uuid

import httpx
import psutil
import psycopg
import pytest

from infra.stack import DEFAULT_POSTGRES, POSTGRES_ENV, deploy, down, drop_database, ray_processes, status, up
from pipelines.cli import main
from pipelines.config import REPO_ROOT, load_config
from pipelines.export import export_run
from pipelines.registry import promote, register
from pipelines.train import train

pytestmark = pytest.mark.slow

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


def test_stack_trains_registers_and_serves_from_the_cluster(stack, monkeypatch, capsys):
    state, folder = stack
    monkeypatch.setenv("MLFLOW_TRACKING_URI", state.tracking_uri)
    run_id = train(load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)).run_id
    export_run(run_id)
    version = str(register(run_id).version)
    promote("translation-de-en", version)

    with psycopg.connect(state.database_uri) as db:  # the run and the alias live in PostgreSQL
        assert db.execute("SELECT status FROM runs WHERE run_uuid = %s", (run_id,)).fetchone() == ("FINISHED",)
        alias = db.execute("SELECT version FROM registered_model_aliases WHERE alias = 'champion'").fetchone()
        assert alias == (int(version),)

    deploy(state, ("translation",), folder)
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


def test_down_leaves_no_process(stack, monkeypatch):
    state, folder = stack
    monkeypatch.setenv("ATTNOPS_STACK_DIR", str(folder))
    assert len(ray_processes(state.ray_temp_dir)) >= 4  # two raylets, GCS, dashboard, workers
    stopped = down(folder)
    assert state.mlflow_pid in stopped
    assert ray_processes(state.ray_temp_dir) == []
    assert not psutil.pid_exists(state.mlflow_pid)
    assert main(["stack", "down"]) == 0  # idempotent: nothing left to stop

"""``attnops predict`` on a two-node Ray cluster started as ``attnops stack`` starts it: blocks predicted on
both nodes, each node's rows in the job's MLflow run, the same output as in one process."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from attnops.infra.stack import ray_processes, start_ray, stop_processes
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.export import export_run
from attnops.pipelines.inference.resolve import resolve
from attnops.pipelines.registry import promote, register
from attnops.pipelines.train import train
from attnops.pipelines.translation.config import DataConfig
from attnops.pipelines.translation.task import TRANSLATION
from attnops.serving.server import free_port
from tests.serving.test_serving_integration import TINY

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.subprocess]

MODEL = "models:/predict-cluster@champion"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head and a worker node of one CPU each, on a private temp dir; yields the head's address."""
    temp_dir = tempfile.mkdtemp(prefix="attnops-ray-")  # short: Ray's socket paths must fit in 107 bytes
    port = free_port()
    log = tmp_path_factory.mktemp("cluster") / "ray.log"
    try:
        start_ray(Path(temp_dir), port, free_port(), log, [free_port(), free_port()])
        yield f"127.0.0.1:{port}"
    finally:
        stop_processes(ray_processes(temp_dir))
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory, new_store):
    """A tiny trained translator, exported and promoted, in a SQLite store both nodes can open."""
    root = tmp_path_factory.mktemp("store")
    uri = new_store(root)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        env.chdir(root)
        run_id = train(load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)).run_id
        export_run(run_id)
        promote("predict-cluster", str(register(run_id, "predict-cluster").version))
    return uri


def test_a_job_on_two_nodes_predicts_on_both_and_matches_one_process(cluster, store, tmp_path, monkeypatch):
    test = DataConfig().data_root() / "multi30k/raw/test_2016_flickr.de.gz"
    texts = gzip.open(test, "rt", encoding="utf-8").read().splitlines()[:200]
    source = tmp_path / "in.jsonl"
    rows = [{"id": f"s{i}", "text": text} for i, text in enumerate(texts)]
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store,
        "RAY_ADDRESS": cluster,
        "RAY_AUTH_MODE": "token",
    }
    args = ["--model", MODEL, "--input", str(source), "--output", str(tmp_path / "out"), "--block-rows", "10",
            "--actors", "2"]  # fmt: skip
    job = subprocess.run([sys.executable, "-m", "attnops.cli", "predict", *args],
                         env=env, capture_output=True, text=True, timeout=240)  # fmt: skip
    assert job.returncode == 0, job.stderr[-3000:]
    lines = job.stdout.strip().splitlines()
    assert any(line.startswith("nodes: 2 ") for line in lines), job.stdout

    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    run_id = next(line.split()[1] for line in lines if line.startswith("run: "))
    metrics = MlflowClient().get_run(run_id).data.metrics
    per_node = {key: value for key, value in metrics.items() if key.startswith("rows_on_node_")}
    assert metrics["nodes"] == 2 and len(per_node) == 2 and min(per_node.values()) > 0, metrics
    assert sum(per_node.values()) == 200

    out = pd.read_parquet(lines[-1])
    assert out["id"].tolist() == [f"s{i}" for i in range(200)] and out["error"].isna().all()
    bundle = resolve(MODEL).bundle
    expected = TRANSLATION.predict_frame(bundle, bundle.backend(bundle.config.runtime), pd.DataFrame({"text": texts}))
    assert out["translation"].tolist() == expected["translation"].tolist()


def test_a_driver_without_token_auth_gets_one_line(cluster, store, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "Ein Hund."}\n')
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "RAY_ADDRESS": cluster}
    env.pop("RAY_AUTH_MODE", None)
    args = ["--model", MODEL, "--input", str(source), "--output", str(tmp_path / "out")]
    job = subprocess.run([sys.executable, "-m", "attnops.cli", "predict", *args],
                         env=env, capture_output=True, text=True, timeout=240)  # fmt: skip
    last = job.stderr.strip().splitlines()[-1]
    assert job.returncode == 2 and last.startswith(f"attnops: error: cannot join the Ray cluster at {cluster}: ")
    assert last.endswith("needs RAY_AUTH_MODE=token")

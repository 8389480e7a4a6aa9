"""``attnops predict`` on Ray Data: same output as ``attnops translate``, error rows, resume after a kill,
a worker killed mid-job, one-line errors before any work, and the job's MLflow run."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from attnops.cli import main
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.export import export_run
from attnops.pipelines.inference.resolve import resolve
from attnops.pipelines.offline.job import PredictJob, run_job
from attnops.pipelines.offline.rows import Batching
from attnops.pipelines.registry import promote, register
from attnops.pipelines.train import train
from attnops.pipelines.translation.config import DataConfig
from attnops.pipelines.translation.task import TRANSLATION
from tests.serving.test_serving_integration import TINY

pytestmark = [pytest.mark.slow, pytest.mark.ray]

NAME = "predict-it"
MODEL = f"models:/{NAME}@champion"


@pytest.fixture(scope="module")
def store(tmp_path_factory, new_store):
    """A tiny trained translator, exported with INT8 graphs and promoted; Ray stopped at the end."""
    import ray

    root = tmp_path_factory.mktemp("predict")
    uri = new_store(root)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        env.chdir(root)
        run_id = train(load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)).run_id
        export_run(run_id, quantize="int8")
        promote(NAME, str(register(run_id, NAME).version))
    yield uri
    ray.shutdown()


@pytest.fixture
def sentences() -> list[str]:
    test = DataConfig().data_root() / "multi30k/raw/test_2016_flickr.de.gz"
    return gzip.open(test, "rt", encoding="utf-8").read().splitlines()


@pytest.fixture
def tracked(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    return store


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def test_output_matches_in_process_prediction_with_error_rows_and_a_run(tracked, sentences, tmp_path):
    texts = sentences[:120]
    rows = [{"id": f"s{i}", "text": t} for i, t in enumerate(texts)]
    rows[5]["text"] = "   "
    rows[9]["text"] = "lang " * 300  # 1,500 bytes: over the limit below
    # fp32: INT8 graphs quantize activations per batch, so their output depends on the batch's other rows
    job = PredictJob(MODEL, [_write_jsonl(tmp_path / "in.jsonl", rows)], tmp_path / "out", precision="fp32",
                     block_rows=50, batching=Batching(max_rows=16, max_tokens=256, max_row_bytes=1000))  # fmt: skip
    result = run_job(job)
    out = pd.read_parquet(result.path)
    assert out["id"].tolist() == [row["id"] for row in rows] and out["row"].tolist() == list(range(120))
    assert out.loc[5, "error"] == "empty input" and "over the limit of 1000" in out.loc[9, "error"]
    good = out[out["error"].isna()]
    assert len(good) == 118 and result.errors == 2
    bundle = resolve(MODEL).bundle
    backend = bundle.backend(bundle.config.runtime.model_copy(update={"precision": "fp32"}))
    expected = TRANSLATION.predict_frame(bundle, backend, pd.DataFrame({"text": [texts[i] for i in good.index]}))
    assert good["translation"].tolist() == expected["translation"].tolist()  # what `attnops translate` runs

    from mlflow import MlflowClient

    run = MlflowClient().get_run(result.run_id)
    assert run.data.params["model_version"] == "1" and run.data.params["task"] == "translation"
    assert run.data.params["precision"] == "fp32"
    assert run.data.metrics["rows"] == 120 and run.data.metrics["error_rows"] == 2
    assert run.data.metrics["rows_per_s"] > 0 and len(run.data.params["input_digest"]) == 64


def test_first_come_batches_give_the_same_output(tracked, sentences, tmp_path):
    source = _write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in sentences[:40]])
    outputs = []
    for by_length in (True, False):
        job = PredictJob(MODEL, [source], tmp_path / f"out-{by_length}", format="jsonl", precision="fp32",
                         batching=Batching(max_rows=8, by_length=by_length))  # fmt: skip
        outputs.append(pd.read_json(run_job(job).path, lines=True))
    assert outputs[0]["row"].tolist() == list(range(40))
    assert outputs[0]["translation"].tolist() == outputs[1]["translation"].tolist()


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "attnops.cli", "predict", "--model", MODEL, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)  # fmt: skip


def test_a_killed_job_resumes_without_redoing_or_repeating_rows(tracked, sentences, tmp_path):
    rows = [{"id": f"r{i}", "text": sentences[i % len(sentences)]} for i in range(1500)]
    args = ("--input", str(_write_jsonl(tmp_path / "in.jsonl", rows)), "--output", str(tmp_path / "out"),
            "--block-rows", "100")  # fmt: skip
    parts = tmp_path / "out/parts"
    job = _cli(*args, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(list(parts.glob("*.parquet"))) < 3 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(job.pid, signal.SIGKILL)  # the driver and its Ray processes, mid-job
    job.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet")}
    assert 3 <= len(kept) < 15
    resumed = _cli(*args)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"predicted now: {1500 - 100 * len(kept)}" in out
    assert "INFO streaming_executor" not in err and "logging_progress" not in err  # Ray Data's lines: its log file
    assert all(parts.joinpath(name).stat().st_mtime_ns == mtime for name, mtime in kept.items())  # not redone
    result = pd.read_parquet(out.strip().splitlines()[-1])
    assert result["id"].tolist() == [row["id"] for row in rows] and result["error"].isna().all()


def test_a_worker_killed_mid_job_loses_and_repeats_no_row(tracked, sentences, tmp_path):
    import psutil
    import ray

    source = _write_jsonl(tmp_path / "in.jsonl", [{"text": sentences[i % 1000]} for i in range(800)])
    job = PredictJob(MODEL, [source], tmp_path / "out", block_rows=50, batching=Batching(max_rows=16))
    results = []
    worker = threading.Thread(target=lambda: results.append(run_job(job)))
    worker.start()
    parts = tmp_path / "out/parts"
    while not list(parts.glob("*.parquet")) and worker.is_alive():
        time.sleep(0.2)
    actors = [p for p in psutil.Process().children(recursive=True) if "BlockPredictor" in " ".join(p.cmdline())]
    assert actors, "no predict actor found"  # Ray names a worker's process after its actor
    actors[0].kill()
    assert len(list(parts.glob("*.parquet"))) < 16  # killed with blocks still to do
    worker.join(timeout=300)
    assert results and results[0].rows == 800
    out = pd.read_parquet(results[0].path)
    assert out["row"].tolist() == list(range(800)) and out["error"].isna().all()
    assert ray.is_initialized()


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: d / "missing.jsonl", "input not found: "),
        (lambda d: _write_jsonl(d / "images.jsonl", [{"image": "aGk="}]), "no 'text' column, which a translation"),
        (lambda d: (d / "in.txt").write_text("x") and d / "in.txt", "unknown input format '.txt'"),
        (lambda d: (d / "bad.jsonl").write_text("{not json\n") and d / "bad.jsonl", "cannot read it as jsonl"),
    ],
)
def test_bad_input_is_one_line_before_any_work(tracked, tmp_path, capsys, make_input, message):
    from mlflow import MlflowClient

    runs = len(MlflowClient().search_runs([e.experiment_id for e in MlflowClient().search_experiments()]))
    code = main(["predict", "--model", MODEL, "--input", str(make_input(tmp_path)), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("attnops: error: ") and message in err[-1]
    assert not (tmp_path / "o").exists()
    assert len(MlflowClient().search_runs([e.experiment_id for e in MlflowClient().search_experiments()])) == runs


def test_an_output_folder_of_another_job_is_refused(tracked, sentences, tmp_path, capsys):
    first = _write_jsonl(tmp_path / "a.jsonl", [{"text": t} for t in sentences[:10]])
    second = _write_jsonl(tmp_path / "b.jsonl", [{"text": t} for t in sentences[10:20]])
    assert main(["predict", "--model", MODEL, "--input", str(first), "--output", str(tmp_path / "o")]) == 0
    code = main(["predict", "--model", MODEL, "--input", str(second), "--output", str(tmp_path / "o")])
    assert code == 2 and "holds a job with another input_digest" in capsys.readouterr().err


def test_int8_passes_the_gate_and_serves_by_default(tracked, capsys):
    from mlflow import MlflowClient

    run = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("attnops-demo").experiment_id])[0]
    assert run.data.metrics["int8_drop"] <= 0.5  # the tiny model's BLEU drop, within the one gate
    assert resolve(MODEL).bundle.config.runtime.precision == "int8"  # so predict, translate and serving run it
    assert main(["models", NAME]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()[:2]
    assert row[header.index("SERVES") :].split()[0] == "int8"

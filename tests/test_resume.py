"""A training run SIGKILLed at random points and continued with ``attnops train --resume`` ends exactly like an
uninterrupted run with the same seed: same run, each epoch's metrics logged once, same final figures (the average of
its last epochs' weights included), the same artifacts under the same names — and it goes on through export,
register, promote and translate."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.resume import LAST_CHECKPOINT, run_folder

pytestmark = pytest.mark.slow

EPOCHS = 4
TINY = [
    "data.max_train_examples=300",
    "data.max_eval_examples=8",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=24",
    f"train.max_epochs={EPOCHS}",
    "train.batch_size=32",
    "train.val_every_steps=4",  # a validation (and a best checkpoint) before the first epoch ends
    "train.early_stopping_patience=20",  # restored on resume, never reached
    "train.average_last_epochs=2",  # the running mean travels in the epoch-end checkpoint
    "train.eval_beam_size=1",
    "train.max_decode_length=10",
    "train.deterministic=true",
    "train.num_threads=1",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
]
KILLS = int(os.environ.get("ATTNOPS_RESUME_KILLS", "3"))
"""SIGKILLs per interrupted run (the benchmark-sized check sets 10)."""


def _attnops(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "attnops.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _train_args(experiment: str) -> list[str]:
    overrides = [*TINY, f"tracking.experiment={experiment}"]
    return [
        "train",
        str(REPO_ROOT / "pipelines/configs/translation/demo.yaml"),
        *[a for o in overrides for a in ("--set", o)],
    ]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "ATTNOPS_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return out.strip().splitlines()[-1]


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _artifacts(client: MlflowClient, run_id: str, folder: str | None = None) -> list[str]:
    """Every artifact file of a run, by path."""
    found = []
    for item in client.list_artifacts(run_id, folder):
        found += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return sorted(found)


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _wait_for_run(client: MlflowClient, experiment: str, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id]) if found else []
        if runs:
            return runs[0].info.run_id
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.2)
    raise AssertionError("the training run never appeared")


def test_sigkilled_run_resumes_into_the_same_run_and_matches_an_uninterrupted_one(tmp_path, capsys):
    from attnops.cli import main

    env = _env(tmp_path)
    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_URI", "ATTNOPS_HOME")})
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    started = time.monotonic()
    reference = _finish(_attnops(*_train_args("uninterrupted"), env=env))
    one_run_s = time.monotonic() - started

    rng = random.Random(16)
    process = _attnops(*_train_args("interrupted"), env=env)
    run_id = _wait_for_run(client, "interrupted", process)
    kills = 0
    while kills < KILLS:
        if kills == 0:  # after the first validation saved the best checkpoint, before the first epoch ended
            _wait_for(run_folder(run_id) / "checkpoints" / "best.ckpt", process)
            assert not (run_folder(run_id) / LAST_CHECKPOINT).exists(), "the first epoch ended before the kill"
        else:
            time.sleep(rng.uniform(0.1, 1.0) * one_run_s / (KILLS + 1))  # anywhere: start-up, an epoch, a save
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        if client.get_run(run_id).info.status == "FINISHED":  # killed while exiting
            break
        capsys.readouterr()
        assert main(["runs", "--experiment", "interrupted"]) == 0
        listing = capsys.readouterr().out
        assert f"{run_id}" in listing and "INTERRUPTED resumable" in listing, listing
        assert client.get_run(run_id).info.status == "KILLED"
        process = _attnops("train", "--resume", run_id, env=env)
    if process.returncode != -signal.SIGKILL:
        assert _finish(process) == run_id
    assert kills == KILLS, f"the run finished after {kills} kills"
    print(f"\n{kills} kills; one uninterrupted run {one_run_s:.1f} s; whole test {time.monotonic() - started:.1f} s")

    resumed, uninterrupted = client.get_run(run_id), client.get_run(reference)
    assert resumed.info.status == "FINISHED"
    assert len(client.search_runs([resumed.info.experiment_id])) == 1
    for key in ("val_loss", "train_loss_epoch", "lr"):
        steps, values = zip(*_history(client, run_id, key))
        reference_steps, reference_values = zip(*_history(client, reference, key))
        assert steps == reference_steps == tuple(range(EPOCHS)), f"{key}: steps {steps}"
        assert values == pytest.approx(reference_values, rel=1e-6), key
    clock = ("seconds", "elapsed_s")  # wall-clock readings differ between any two runs
    finals = {k: v for k, v in uninterrupted.data.metrics.items() if not any(c in k for c in clock)}
    assert {k: resumed.data.metrics[k] for k in finals} == pytest.approx(finals, rel=1e-6)
    assert "averaged_val_bleu" in finals and "best_epoch_val_bleu" in finals
    assert _artifacts(client, run_id) == _artifacts(client, reference)

    capsys.readouterr()
    assert main(["export", run_id]) == 0
    assert main(["register", run_id, "--name", "resumed"]) == 0
    assert main(["promote", "resumed", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("resumed@champion -> version 1")
    assert main(["translate", "--model", "models:/resumed@champion", "Ein Hund läuft."]) == 0
    assert capsys.readouterr().out.strip()


def test_a_run_reopens_in_its_own_experiment_whatever_this_process_used_before(monkeypatch):
    import mlflow
    from mlflow.tracking import fluent

    from attnops.pipelines.tracking import resume_run

    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # what this test sets stays in this test
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])  # this test's store, whatever an earlier test set
    mlflow.set_experiment("first")
    with mlflow.start_run() as run:
        pass
    mlflow.set_experiment("second")  # e.g. a run trained in-process just before
    with resume_run(run.info.run_id) as resumed:
        mlflow.log_metric("added", 1.0)
    assert resumed == run.info.run_id
    assert MlflowClient().get_run(run.info.run_id).data.metrics == {"added": 1.0}

"""Everything that talks to MLflow: runs, params, metrics, artifacts."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from pipelines.errors import UserError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""Embedded default: a SQLite store in the working directory (artifacts go to ./mlruns)."""


def _mlflow():
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    # Set on every call: mlflow keeps a process-wide URI that would otherwise shadow a changed env.
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    return mlflow


@contextlib.contextmanager
def start_run(experiment: str, run_name: str | None, system_metrics: bool) -> Iterator[str]:
    """Open a new run (marked FAILED if the block raises) and yield its id."""
    mlflow = _mlflow()
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name, log_system_metrics=system_metrics) as run:
        yield run.info.run_id


@contextlib.contextmanager
def resume_run(run_id: str) -> Iterator[str]:
    """Reopen an existing run to add results to it."""
    check_run(run_id)
    with _mlflow().start_run(run_id=run_id) as run:
        yield run.info.run_id


def check_run(run_id: str) -> None:
    """Raise :class:`UserError` unless ``run_id`` names a run of the tracking server."""
    mlflow = _mlflow()
    try:
        mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise UserError(f"unknown run id {run_id!r} at {mlflow.get_tracking_uri()}") from exc


def artifact_location(run_id: str, artifact_path: str) -> str:
    """Where an artifact of a run lives: a local path for a local store, else its URI."""
    uri = f"{_mlflow().get_run(run_id).info.artifact_uri}/{artifact_path}"
    return uri.removeprefix("file://")


def log_params(params: dict[str, Any]) -> None:
    _mlflow().log_params({key: "None" if value is None else value for key, value in params.items()})


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    _mlflow().log_metrics(metrics, step=step)


def log_artifact(path: Path, artifact_path: str | None = None) -> None:
    """Log a file, or a folder's contents, under ``artifact_path``."""
    mlflow = _mlflow()
    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path)
    else:
        mlflow.log_artifact(str(path), artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    _mlflow().log_text(text, artifact_file)


def download(run_id: str, artifact_path: str, destination: Path | None = None) -> Path:
    """Download one artifact (file or folder) of a run; :class:`UserError` if it is missing."""
    mlflow = _mlflow()
    check_run(run_id)
    destination = destination or Path(tempfile.mkdtemp(prefix="attnops-"))
    try:
        return Path(
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(destination))
        )
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise UserError(f"run {run_id} has no artifact {artifact_path!r}") from exc


class EpochMetrics(pl.Callback):
    """Log the epoch-level metrics Lightning collected (losses, BLEU, learning rate) per epoch."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs after the epoch's validation, so train and val figures of the same epoch go together.
        metrics = {
            name: float(value)
            for name, value in trainer.callback_metrics.items()
            if not name.endswith("_step") and value.numel() == 1
        }
        metrics["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        log_metrics(metrics, step=trainer.current_epoch)

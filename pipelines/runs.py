"""A trained run as MLflow stores it: its resolved config (the task's trained model is the task's to load)."""

from __future__ import annotations

from pipelines import tracking
from pipelines.config import ExperimentConfig, load_config
from pipelines.inference.artifacts import CONFIG_ARTIFACT


def load_run_config(run_id: str) -> ExperimentConfig:
    return load_config(tracking.download(run_id, CONFIG_ARTIFACT))

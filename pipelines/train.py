"""Train stage, for every task: data → (in one MLflow run) the task's setup → the shared fit → test figures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipelines import tracking
from pipelines.config import ExperimentConfig
from pipelines.errors import UserError
from pipelines.fitting import fit, training_run
from pipelines.inference.artifacts import CHECKPOINT_ARTIFACT
from pipelines.resume import LAST_CHECKPOINT, OWNER_TAG, last_checkpoint, owner_gone
from pipelines.runs import load_run_config
from pipelines.task import Report
from pipelines.tasks import task_for


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    checkpoint: Path
    evaluation: Report
    train_seconds: float

    def lines(self) -> list[str]:
        """Test figures, the training wall time, and the run id last (scripts read the last line)."""
        return [*self.evaluation.metric_lines(), f"training wall time: {self.train_seconds:.0f} s", self.run_id]


def train(
    config: ExperimentConfig,
    config_path: Path | None = None,
    resume: str | None = None,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Run one tracked training run of ``config``'s task and return its id, best checkpoint and test figures.

    With ``resume`` (a run id), continue that run from its last epoch-end checkpoint instead. ``tags`` go on a
    new run (e.g. ``mlflow.parentRunId`` to make it a child run).
    The data is loaded before the run is created, so bad data paths leave the tracking store as it was.
    """
    task = task_for(config)
    data = task.load_data(config)
    checkpoint = last_checkpoint(resume) if resume else None
    with training_run(config, config_path, resume, tags) as (run_id, work):
        training = task.prepare_training(config, data, work)
        started = time.perf_counter()
        best = fit(
            training.module,
            training.train_loader,
            training.val_loader,
            config.train,
            training.monitor,
            training.mode,
            work,
            checkpoint,
        )
        train_seconds = time.perf_counter() - started
        tracking.log_metrics({"train_seconds": train_seconds})
        tracking.log_artifact(best, str(Path(CHECKPOINT_ARTIFACT).parent))
        evaluation = task.evaluate_trained(config, data, training, best)
    (work / LAST_CHECKPOINT).unlink(missing_ok=True)  # finished: nothing left to resume
    return TrainResult(run_id, best, evaluation, train_seconds)


def resume(run_id: str) -> TrainResult:
    """Continue an interrupted run into the same MLflow run, from its last epoch-end checkpoint if it has one."""
    tracking.check_run(run_id)
    info = tracking.client().get_run(run_id)
    if info.info.status == "FINISHED":
        raise UserError(f"run {run_id} already finished; there is nothing to resume")
    if info.info.status == "RUNNING" and not owner_gone(info.data.tags.get(OWNER_TAG)):
        raise UserError(f"run {run_id} is still being trained by {info.data.tags.get(OWNER_TAG)}")
    config = load_run_config(run_id)
    if config.train.workers > 1:
        raise UserError(f"run {run_id} trained on {config.train.workers} Ray Train workers; only one process resumes")
    return train(config, resume=run_id)

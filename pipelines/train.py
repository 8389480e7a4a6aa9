"""Train stage, for every task: data → (in one MLflow run) the task's setup → the shared fit → test figures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines import tracking
from attnops.pipelines.config import DataSection, ExperimentConfig
from attnops.pipelines.data.fetch import ensure
from attnops.pipelines.data.lineage import section_lineage
from attnops.pipelines.errors import UserError
from attnops.pipelines.fitting import fit, training_run
from attnops.pipelines.inference.artifacts import CHECKPOINT_ARTIFACT
from attnops.pipelines.resume import LAST_CHECKPOINT, OWNER_TAG, last_checkpoint, owner_gone
from attnops.pipelines.runs import load_run_config
from attnops.pipelines.task import Report, Training
from attnops.pipelines.tasks import task_for


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
    The data is loaded before the run is created (a catalogue data set missing from the data root is fetched
    first), so bad data paths leave the tracking store as it was. The run records the data set as an MLflow
    dataset input: name, source, content digest and split sizes.
    """
    task = task_for(config)
    section = getattr(config, "data", None)
    named = isinstance(section, DataSection)  # a task may bring a data section of its own
    if named and section.path is None:  # a catalogue data set, fetched on first use
        ensure(section.dataset, section.data_root())
    data = task.load_data(config)
    lineage = section_lineage(section, data) if named else None
    checkpoint = last_checkpoint(resume) if resume else None
    with training_run(config, config_path, resume, tags) as (run_id, work):
        if lineage is not None:
            tracking.log_dataset(lineage.name, lineage.source, lineage.digest, lineage.splits)
        training = task.prepare_training(config, data, work)
        started = time.perf_counter()
        best = _fit(training, config, work, checkpoint)
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


def _fit(training: Training, config: ExperimentConfig, work: Path, resume: Path | None) -> Path:
    """The shared fit: in this process, or on Ray Train with ``train.workers`` > 1 (which starts over, not resumes)."""
    t = training
    shared = (t.module, t.train_loader, t.val_loader, config.train, t.monitor, t.mode, work)
    if config.train.workers > 1:
        from attnops.pipelines.distributed import fit_on_ray

        return fit_on_ray(*shared)
    return fit(*shared, resume)

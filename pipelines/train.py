"""Train stage, for every task: data → (in one MLflow run) the task's setup → the shared fit → test figures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipelines import tracking
from pipelines.config import ExperimentConfig
from pipelines.fitting import fit, training_run
from pipelines.inference.artifacts import CHECKPOINT_ARTIFACT
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


def train(config: ExperimentConfig, config_path: Path | None = None) -> TrainResult:
    """Run one tracked training run of ``config``'s task and return its id, best checkpoint and test figures.

    The data is loaded before the run is created, so bad data paths leave the tracking store as it was.
    """
    task = task_for(config)
    data = task.load_data(config)
    with training_run(config, config_path) as (run_id, work):
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
        )
        train_seconds = time.perf_counter() - started
        tracking.log_metrics({"train_seconds": train_seconds})
        tracking.log_artifact(best, str(Path(CHECKPOINT_ARTIFACT).parent))
        evaluation = task.evaluate_trained(config, data, training, best)
    return TrainResult(run_id, best, evaluation, train_seconds)

"""Training runs as MLflow stores them: a run's resolved config, and the list with interrupted runs found out.

The task's trained model is the task's to load."""

from __future__ import annotations

import time
from dataclasses import dataclass

from attnops.pipelines import tracking
from attnops.pipelines.config import ExperimentConfig, load_config
from attnops.pipelines.inference.artifacts import CONFIG_ARTIFACT
from attnops.pipelines.resume import INTERRUPTED_TAG, OWNER_TAG, owner_gone


def load_run_config(run_id: str) -> ExperimentConfig:
    return load_config(tracking.download(run_id, CONFIG_ARTIFACT))


@dataclass
class RunRow:
    run_id: str
    name: str
    experiment: str
    state: str
    """MLflow's status; INTERRUPTED for a run whose training process died (MLflow then says KILLED)."""
    resumable: bool
    epochs: int
    """Epochs with logged metrics."""
    started: str


def list_runs(experiment: str | None = None) -> list[RunRow]:
    """Training runs, newest first. A RUNNING run whose process is gone is marked KILLED (and interrupted)."""
    names = {e.experiment_id: e.name for e in tracking.client().search_experiments()}
    rows = []
    for run in tracking.search_runs(experiment):
        run_id, tags = run.info.run_id, run.data.tags
        state = run.info.status
        if state == "RUNNING" and owner_gone(tags.get(OWNER_TAG)):
            tracking.set_status(run_id, "KILLED", {INTERRUPTED_TAG: "true"})
            state = "KILLED"
        interrupted = state == "KILLED"  # found dead, or stopped with Ctrl-C: either way it can continue
        rows.append(
            RunRow(
                run_id=run_id,
                name=run.info.run_name or "",
                experiment=names.get(run.info.experiment_id, run.info.experiment_id),
                state="INTERRUPTED" if interrupted else state,
                resumable=interrupted and OWNER_TAG in tags,
                epochs=len(tracking.client().get_metric_history(run_id, "lr")),
                started=time.strftime("%Y-%m-%d %H:%M", time.localtime(run.info.start_time / 1000)),
            )
        )
    return rows

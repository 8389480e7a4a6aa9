"""One study trial, in a Ray worker: train a child run, export it behind the parity gate, time its decoding."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch

from attnops.pipelines import tracking
from attnops.pipelines.config import load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.export import export_run
from attnops.pipelines.study.spec import Trial
from attnops.pipelines.task import Headline
from attnops.pipelines.tasks import task_for
from attnops.pipelines.train import train

log = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"
"""MLflow's own tag: it shows the child runs nested under the parent."""
TRIAL_TAG = "attnops.study.trial"
"""A child run's trial key, ``label/seedN``."""
DONE_TAG = "attnops.study.done"
"""Set on a child run once every figure of its trial is logged: a resumed study skips it."""


def run_trial(trial: Trial, parent_id: str, sentences: int, threads: int) -> str:
    """Train, export and time ``trial`` as a child run of ``parent_id``; return the child's run id.

    A failed parity check is recorded on the child (the study shows it) and skips the decode timing; any
    other failure raises, and the child run is left FAILED.
    """
    folder = Path(tempfile.mkdtemp(prefix="attnops-study-"))
    path = folder / f"{trial.config.label}.yaml"
    path.write_text(trial.config.text)
    config = load_config(path, list(trial.overrides))
    headline = task_for(config).headline
    trained = train(config, path, tags={PARENT_TAG: parent_id, TRIAL_TAG: trial.key})
    figures = {"parameters": float(parameter_count(trained.checkpoint)), **_throughput(trained.run_id, headline)}
    try:
        exported = export_run(trained.run_id)
    except UserError as exc:  # the parity gate refused it: a finding of the study, not a failed trial
        log.warning("%s: %s", trial.key, exc)
    else:
        if headline.speed_probe:
            figures.update(headline.speed_probe.load()(exported.bundle, sentences, threads))
    with tracking.resume_run(trained.run_id):
        tracking.log_metrics(figures)
        tracking.set_tags({DONE_TAG: "true"})
    return trained.run_id


def parameter_count(checkpoint: Path) -> int:
    """Weights in a Lightning checkpoint; tied ones (a shared embedding, an output layer tied to it) count once."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return sum({(tensor.data_ptr(), tensor.shape): tensor.numel() for tensor in state.values()}.values())


def _throughput(run_id: str, headline: Headline) -> dict[str, float]:
    """Training tokens per second, validation time left out (needs the task's tokens-per-epoch param)."""
    run = tracking.client().get_run(run_id).data
    if headline.tokens_param is None or headline.tokens_param not in run.params:
        return {}
    metrics = run.metrics
    epochs = metrics["train_steps"] / metrics["steps_per_epoch"]
    seconds = metrics["train_seconds"] - metrics["val_seconds"]
    return {"train_tokens_per_s": float(run.params[headline.tokens_param]) * epochs / seconds}

"""The Lightning fit every task shares: best checkpoint on a validation metric, early stopping, tracking."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from attnops.pipelines import tracking
from attnops.pipelines.averaging import LastEpochsAverage, validate_average
from attnops.pipelines.config import ExperimentConfig, TrainConfig
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import CONFIG_ARTIFACT
from attnops.pipelines.provenance import provenance_tags
from attnops.pipelines.resume import METRICS_JOURNAL, OWNER_TAG, EpochCheckpoint, EpochSeed, owner, run_folder


def epoch_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The epoch-level metrics Lightning collected (losses, BLEU, ...) and the learning rate."""
    metrics = {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if not name.endswith("_step") and value.numel() == 1
    }
    metrics["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
    return metrics


MetricsLog = Callable[[dict[str, float], int | None], None]
"""Where the progress callbacks send ``(metrics, step)``: the active MLflow run, or a record a Ray Train worker
hands back to the driver."""


def log_to_run(metrics: dict[str, float], step: int | None = None) -> None:
    tracking.log_metrics(metrics, step=step)


class EpochMetrics(pl.Callback):
    """Log the epoch-level metrics per epoch."""

    def __init__(self, sink: MetricsLog = log_to_run) -> None:
        self.sink = sink  # not `log`: Lightning sets a callback's `log` to the module's

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs after the epoch's validation, so train and val figures of the same epoch go together.
        self.sink(epoch_metrics(trainer), trainer.current_epoch)


CURVE_PREFIX = "curve."
"""Metrics logged at every validation, at the step it ran: ``curve.elapsed_s`` and ``curve.val_*``."""


class ValidationCurve(pl.Callback):
    """At every validation: the validation metrics and the wall seconds since the fit started, at the global
    step (a quality-against-time curve); at the end, the steps taken and the seconds validation took."""

    def __init__(self, sink: MetricsLog = log_to_run) -> None:
        self.sink = sink

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.perf_counter()
        self.val_seconds = 0.0

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.val_started = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.val_seconds += time.perf_counter() - self.val_started
        metrics = {
            f"{CURVE_PREFIX}{name}": float(value)
            for name, value in trainer.callback_metrics.items()
            if name.startswith("val_") and value.numel() == 1
        }
        metrics[f"{CURVE_PREFIX}elapsed_s"] = time.perf_counter() - self.started
        self.sink(metrics, trainer.global_step)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.sink(
            {
                "train_steps": float(trainer.global_step),
                "steps_per_epoch": float(trainer.num_training_batches),
                "val_seconds": self.val_seconds,
            },
            None,
        )


def progress_callbacks(seed: int, sink: MetricsLog = log_to_run) -> list[pl.Callback]:
    """What every fit runs, in one process or on each Ray Train worker: the per-epoch seed, the epoch metrics and
    the validation curve, logged through ``sink``."""
    return [EpochSeed(seed), EpochMetrics(sink), ValidationCurve(sink)]


@contextmanager
def training_run(
    config: ExperimentConfig, config_path: Path | None, resume: str | None = None, tags: dict[str, str] | None = None
) -> Iterator[tuple[str, Path]]:
    """Seed and size torch, then open an MLflow run (with ``tags`` and its provenance: config file, code commit,
    machine) holding every resolved config value (as params and as ``config.yaml``) and the source file, or reopen
    ``resume``; yield the run id and its state folder.
    A tracking server lost for good ends the run with a :class:`UserError` saying how to resume it."""
    pl.seed_everything(config.train.seed, workers=True, verbose=False)
    if config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    tags = {**(tags or {}), OWNER_TAG: owner()}
    if resume is None:
        tags = {**provenance_tags(config_path), **tags}
    run_id = None
    try:
        with tracking.start_run(
            config.tracking.experiment, config.tracking.run_name, config.tracking.system_metrics, tags, resume
        ) as run_id:
            work = run_folder(run_id)
            work.mkdir(parents=True, exist_ok=True)
            tracking.keep_journal(work / METRICS_JOURNAL)
            if resume is None:
                tracking.log_params(config.flat())
                tracking.log_text(config.to_yaml(), CONFIG_ARTIFACT)
                if config_path is not None:
                    tracking.log_artifact(config_path, "source_config")
            yield run_id, work
    except Exception as exc:
        if run_id is None or not tracking.unreachable(exc):
            raise
        # The state folder keeps the last epoch-end checkpoint (and the best one) for a resume.
        raise UserError(
            f"{tracking.unreachable_message(exc)}; the checkpoint stays in {run_folder(run_id)}: "
            f"continue with 'attnops train --resume {run_id}' once the server is back"
        ) from exc


def fit(
    module: pl.LightningModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    config: TrainConfig,
    monitor: str,
    mode: str,
    work: Path,
    resume: Path | None = None,
) -> Path:
    """Train ``module`` and return the checkpoint with the best ``monitor`` value (``max`` or ``min``).

    Per-epoch metrics go to the active MLflow run; the full state goes to ``work/last.ckpt`` at each
    epoch end, and ``resume`` (such a checkpoint) continues a fit where it stopped. With
    ``average_last_epochs``, the returned checkpoint holds the average when it validates at least as well.
    """
    # One name for the best checkpoint: a resumed fit finds the folder full and would otherwise write best-v1.ckpt.
    checkpoint = ModelCheckpoint(
        dirpath=work / "checkpoints",
        filename="best",
        monitor=monitor,
        mode=mode,
        save_weights_only=True,
        enable_version_counter=False,
    )
    average = LastEpochsAverage(config.max_epochs - config.average_last_epochs) if config.average_last_epochs else None
    callbacks: list[pl.Callback] = [
        checkpoint,
        *progress_callbacks(config.seed),
        *([average] if average else []),
        EpochCheckpoint(work),
    ]
    if config.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping_patience))
    if train_loader.generator is None:  # its per-epoch seed draws would shift the global RNG after EpochSeed
        train_loader.generator = torch.Generator().manual_seed(config.seed)
    trainer = pl.Trainer(callbacks=callbacks, **trainer_settings(config, len(train_loader), work))
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=resume, weights_only=True)
    best = Path(checkpoint.best_model_path)
    if average is not None:
        best_score = float(checkpoint.best_model_score)
        averaged = validate_average(average, module, val_loader, best, best_score, monitor, mode)
        if averaged is not None:
            log_to_run({f"best_epoch_{monitor}": best_score, f"averaged_{monitor}": averaged})
    return best


def trainer_settings(config: TrainConfig, steps_per_epoch: int, work: Path) -> dict[str, Any]:
    """The ``pl.Trainer`` arguments every fit shares, in one process or on Ray Train."""
    if config.val_every_steps:  # counted over the whole fit, not within each epoch
        validation = dict(val_check_interval=config.val_every_steps, check_val_every_n_epoch=None)
    else:  # a step limit shorter than an epoch still ends with a validation (checkpoint and metric need it)
        validation = dict(val_check_interval=min(config.max_steps, steps_per_epoch) if config.max_steps > 0 else None)
    return dict(
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        max_time=timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        **validation,
        gradient_clip_val=config.grad_clip or None,
        logger=False,
        default_root_dir=work,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        deterministic=config.deterministic,
    )


def load_weights(model: nn.Module, checkpoint: Path) -> nn.Module:
    """Load a Lightning checkpoint (whose module keeps the network as ``self.model``) into ``model``."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({key.removeprefix("model."): value for key, value in state.items()})
    return model.eval()

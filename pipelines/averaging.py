"""Checkpoint averaging: the mean of the weights a fit ends its last epochs with, kept as the best checkpoint when it
validates at least as well as the best single epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader


class LastEpochsAverage(pl.Callback):
    """The running mean of the module's weights at the end of each epoch from ``first_epoch`` (zero-based) on.

    Its state travels in the epoch-end checkpoint, so a resumed fit averages the same epochs as an uninterrupted one.
    Registered before the epoch-end checkpoint callback, which then saves the mean that includes its epoch.
    """

    def __init__(self, first_epoch: int) -> None:
        self.first_epoch = first_epoch
        self.count = 0
        self.mean: dict[str, Tensor] = {}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch < self.first_epoch:
            return
        self.count += 1
        for name, value in pl_module.state_dict().items():
            value = value.detach().cpu()
            if not value.is_floating_point() or name not in self.mean:
                self.mean[name] = value.clone()
            else:
                self.mean[name] += (value - self.mean[name]) / self.count

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.count = state_dict["count"]
        self.mean = state_dict["mean"]


def validate_average(
    average: LastEpochsAverage,
    module: pl.LightningModule,
    val_loader: DataLoader,
    best: Path,
    best_score: float,
    monitor: str,
    mode: str,
) -> float | None:
    """Validate the averaged weights and return their ``monitor`` score (None when no epoch was averaged: the fit
    stopped before ``first_epoch``). When it is at least ``best_score`` (``mode`` ``max``; at most, ``min``), the
    averaged weights replace those in the ``best`` checkpoint."""
    if not average.count:
        return None
    module.load_state_dict(average.mean)
    evaluator = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    averaged = float(evaluator.validate(module, val_loader, verbose=False)[0][monitor])
    if (averaged >= best_score) if mode == "max" else (averaged <= best_score):
        checkpoint = torch.load(best, map_location="cpu", weights_only=True)
        checkpoint["state_dict"] = average.mean
        torch.save(checkpoint, best)
    return averaged

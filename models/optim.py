"""Optimiser and learning-rate schedule from an :class:`OptimConfig`, shared by every Lightning module."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch

from attnops.models.config import OptimConfig


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def configure_optimizers(module: pl.LightningModule, optim: OptimConfig) -> Any:
    """AdamW with the configured schedule, in the form ``LightningModule.configure_optimizers`` returns."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    if optim.scheduler == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}
    if optim.scheduler == "cosine":
        total = max(1, int(module.trainer.estimated_stepping_batches))
        schedule = partial(warmup_cosine, warmup=optim.warmup_steps, total=total)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
    return optimizer

"""What makes a training run survive a kill: its state folder, its owner, and the epoch-end checkpoint.

A run's scratch folder (best checkpoint, ``last.ckpt`` with the full training state) lives under
``$ATTNOPS_HOME/runs/RUN_ID`` (default ``~/.cache/attnops``), so another process can continue it.
Each epoch reseeds every RNG from ``(seed, epoch)``: an epoch's data order and dropout masks do not
depend on what ran before, so a run continued from an epoch-end checkpoint repeats exactly what an
uninterrupted run does.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil
import pytorch_lightning as pl

HOME_ENV = "ATTNOPS_HOME"
LAST_CHECKPOINT = "last.ckpt"
METRICS_JOURNAL = "metrics.jsonl"
"""Every metric the run logged, so a resumed run can send what a lost tracking server never received."""
OWNER_TAG = "attnops.owner"
"""Run tag: ``host:pid:process start time`` of the process training the run."""
INTERRUPTED_TAG = "attnops.interrupted"
"""Run tag set when a RUNNING run's process was found gone (the run is then marked KILLED)."""


def run_folder(run_id: str) -> Path:
    home = Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "attnops")
    return home / "runs" / run_id


def last_checkpoint(run_id: str) -> Path | None:
    path = run_folder(run_id) / LAST_CHECKPOINT
    return path if path.is_file() else None


def owner() -> str:
    """This process, as the owner tag records it."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.3f}"


def owner_gone(tag: str | None) -> bool:
    """True when ``tag`` names a process of this host that no longer runs (False for other hosts)."""
    if not tag:
        return False
    host, _, rest = tag.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        return f"{psutil.Process(int(pid)).create_time():.3f}" != started
    except psutil.NoSuchProcess:
        return True


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % 2**32


class EpochSeed(pl.Callback):
    """Before each epoch's data is drawn: reseed torch, numpy and random from ``(seed, epoch)`` and tell
    the training batch sampler the epoch (Lightning only tells samplers, and a resumed process's
    sampler would otherwise count epochs from 0)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl.seed_everything(epoch_seed(self.seed, trainer.current_epoch), workers=True, verbose=False)
        batch_sampler = getattr(trainer.train_dataloader, "batch_sampler", None)
        if callable(getattr(batch_sampler, "set_epoch", None)):
            batch_sampler.set_epoch(trainer.current_epoch)


class EpochCheckpoint(pl.Callback):
    """The full training state at each epoch end, written atomically to ``folder/last.ckpt``.

    Registered after the metrics callback: a kill between the two repeats the epoch on resume, and the
    repeated epoch's metrics (equal, and at the same step) are not logged again.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LAST_CHECKPOINT

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        partial = self.path.with_name(f".{self.path.name}.partial")
        trainer.save_checkpoint(partial, weights_only=False)  # the full state, not just the weights
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, self.path)  # a kill leaves the old checkpoint or the new one, never half of one

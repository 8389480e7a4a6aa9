"""The Lightning fit on Ray Train: DDP over N workers (gloo on CPU, NCCL on GPUs), restartable from checkpoints.

The driver keeps the MLflow run; workers never talk to MLflow. Each worker runs the same progress callbacks
as a single-process fit (epoch seed, epoch metrics, validation curve) into a record; rank 0's record travels
back with the final report and is logged once, by the driver, into that run. Every epoch ends with a full
Lightning checkpoint reported to Ray Train (``RayTrainReportCallback``), so a failed worker group is
restarted (``FailureConfig``) from the last one. Ray is the cluster of ``$RAY_ADDRESS`` when set (e.g. the
local stack's head), else a private local instance.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader

from attnops.pipelines import tracking
from attnops.pipelines.config import TrainConfig
from attnops.pipelines.fitting import progress_callbacks, trainer_settings
from attnops.pipelines.ray_cluster import init_ray

MAX_FAILURES = 2
"""Worker-group restarts Ray Train allows before the run fails."""


class MetricsRecord(pl.Callback):
    """What the progress callbacks logged, as ``(metrics, step)`` in order; kept in the Lightning checkpoint, so a
    restart does not lose it. A repeated figure (same names, same step) replaces the earlier one."""

    def __init__(self) -> None:
        self.records: list[tuple[dict[str, float], int | None]] = []

    def __call__(self, metrics: dict[str, float], step: int | None) -> None:
        self.records = [(m, s) for m, s in self.records if not (s == step and m.keys() == metrics.keys())]
        self.records.append((metrics, step))

    def state_dict(self) -> dict[str, Any]:
        return {"records": self.records}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.records = state_dict["records"]


class RankSlicedBatches:
    """Rank ``rank``'s slice of every batch of a batch sampler: each global batch is split across the ranks,
    so N workers take the same optimizer steps on the same effective batch as one process (DDP averages
    the ranks' gradients). Batches with fewer examples than ranks are skipped on every rank alike."""

    def __init__(self, batches, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self):
        for batch in self.batches:
            if len(batch) >= self.world:
                yield list(batch)[self.rank :: self.world]

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batches, "set_epoch"):
            self.batches.set_epoch(epoch)


def parameter_divergence(module: torch.nn.Module) -> float:
    """The largest difference of any parameter between ranks (0 when DDP kept the replicas identical)."""
    flat = torch.cat([p.detach().flatten().float() for p in module.parameters()])  # (P,)
    high, low = flat.clone(), flat.clone()
    torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
    torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
    return float((high - low).abs().max())


def _worker_loop(settings: dict[str, Any]) -> None:
    """What each Ray Train worker runs: the shared Lightning fit under Ray's DDP strategy."""
    import ray.train
    from ray.train import Checkpoint
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, RayTrainReportCallback, prepare_trainer

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    config: TrainConfig = settings["config"]
    pl.seed_everything(config.seed, workers=True, verbose=False)
    module: pl.LightningModule = settings["module"]
    loader: DataLoader = settings["train"]
    train_loader = DataLoader(
        loader.dataset,
        batch_sampler=RankSlicedBatches(loader.batch_sampler, rank, world),
        collate_fn=loader.collate_fn,
    )
    work = Path(tempfile.mkdtemp(prefix=f"attnops-rank{rank}-"))
    best = ModelCheckpoint(
        dirpath=work / "best",
        filename="best",
        monitor=settings["monitor"],
        mode=settings["mode"],
        save_weights_only=True,
    )
    record = MetricsRecord()
    callbacks: list[pl.Callback] = [record, *progress_callbacks(config.seed, record), RayTrainReportCallback(), best]
    if config.early_stopping_patience:
        callbacks.append(
            EarlyStopping(monitor=settings["monitor"], mode=settings["mode"], patience=config.early_stopping_patience)
        )
    trainer = pl.Trainer(
        callbacks=callbacks,
        strategy=RayDDPStrategy(),
        plugins=[RayLightningEnvironment()],
        devices="auto",
        accelerator="auto",
        use_distributed_sampler=False,  # batches are sliced by rank above; every rank validates on all of val
        enable_progress_bar=False,
        **trainer_settings(config, len(train_loader), work),
    )
    trainer = prepare_trainer(trainer)
    resume = ray.train.get_checkpoint()
    with resume.as_directory() if resume else nullcontext() as folder:
        path = Path(folder) / RayTrainReportCallback.CHECKPOINT_NAME if folder else None
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=settings["val"], ckpt_path=path)
    divergence = parameter_divergence(module)
    final = {"records": record.records, "parameter_divergence": divergence, "restored": resume is not None}
    if rank == 0 and best.best_model_path:
        ray.train.report(final, checkpoint=Checkpoint.from_directory(str(Path(best.best_model_path).parent)))
    else:
        ray.train.report(final)
    shutil.rmtree(work, ignore_errors=True)


def fit_on_ray(
    module: pl.LightningModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    config: TrainConfig,
    monitor: str,
    mode: str,
    work: Path,
) -> Path:
    """Train ``module`` with ``config.workers`` Ray Train workers; log rank 0's epoch metrics to the active MLflow
    run and return the best checkpoint (by ``monitor``), copied into ``work``."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    gpu = torch.cuda.is_available()
    started = not ray.is_initialized()
    if started:
        init_ray(include_dashboard=False, log_to_driver=False)
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"module": module, "train": train_loader, "val": val_loader, "config": config}
        | {"monitor": monitor, "mode": mode},
        torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=config.workers, use_gpu=gpu, resources_per_worker={"CPU": 1}),
        run_config=RunConfig(
            name="attnops-train",
            storage_path=str(work / "ray"),
            failure_config=FailureConfig(max_failures=MAX_FAILURES),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )
    try:
        result = trainer.fit()
    finally:
        if started:
            ray.shutdown()
    for metrics, step in result.metrics["records"]:
        tracking.log_metrics(metrics, step=step)
    tracking.log_metrics({"ddp_parameter_divergence": result.metrics["parameter_divergence"]})
    tracking.log_params(
        {"train.ddp_backend": "nccl" if gpu else "gloo", "train.resumed_from_checkpoint": result.metrics["restored"]}
    )
    target = work / "checkpoints" / "best.ckpt"
    target.parent.mkdir(parents=True, exist_ok=True)
    with result.checkpoint.as_directory() as folder:
        shutil.copy(Path(folder) / "best.ckpt", target)
    return target

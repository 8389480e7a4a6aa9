"""Checkpoint averaging: the mean of the last epochs' weights, kept across a resume, and kept as the best checkpoint
only when it validates at least as well as the best epoch."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from attnops.pipelines.averaging import LastEpochsAverage, validate_average
from attnops.pipelines.resume import LAST_CHECKPOINT, EpochCheckpoint


class Regression(pl.LightningModule):
    """A linear layer whose validation score is the sum of its weights, so a test can tell which weights scored."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Linear(3, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val_score", self.model.weight.sum())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class EpochWeights(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seen.append({name: value.clone() for name, value in pl_module.state_dict().items()})


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=generator)
    return DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]])), batch_size=16)


def _fit(epochs: int, callbacks: list[pl.Callback], module: Regression, resume: str | None = None) -> None:
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, _loader(), _loader(), ckpt_path=resume, weights_only=False)


def test_the_average_is_the_mean_of_the_last_epochs_weights_and_survives_a_resume(tmp_path):
    torch.manual_seed(0)
    average, weights = LastEpochsAverage(first_epoch=2), EpochWeights()
    _fit(5, [weights, average], Regression())
    assert average.count == 3
    for name, value in average.mean.items():
        expected = torch.stack([epoch[name] for epoch in weights.seen[2:]]).mean(0)
        torch.testing.assert_close(value, expected)
        assert not torch.equal(value, weights.seen[-1][name])

    torch.manual_seed(0)
    interrupted = LastEpochsAverage(first_epoch=2)
    _fit(3, [interrupted, EpochCheckpoint(tmp_path)], Regression())
    resumed = LastEpochsAverage(first_epoch=2)
    _fit(5, [resumed], Regression(), resume=str(tmp_path / LAST_CHECKPOINT))
    assert resumed.count == 3
    for name, value in resumed.mean.items():
        torch.testing.assert_close(value, average.mean[name])


def _best_checkpoint(tmp_path, module: Regression):
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": module.state_dict(), "epoch": 4}, path)
    return path


def test_the_average_replaces_the_best_checkpoint_only_when_it_validates_at_least_as_well(tmp_path):
    module = Regression()
    average = LastEpochsAverage(first_epoch=0)
    average.count, average.mean = 1, {name: value + 1.0 for name, value in module.state_dict().items()}
    averaged_score = (module.model.weight + 1.0).sum().item()
    best = _best_checkpoint(tmp_path, module)

    score = validate_average(average, module, _loader(), best, averaged_score + 0.5, "val_score", "max")
    assert score == torch.tensor(averaged_score).item()
    kept = torch.load(best, weights_only=True)
    assert not torch.equal(kept["state_dict"]["model.weight"], average.mean["model.weight"])

    validate_average(average, module, _loader(), best, averaged_score - 0.5, "val_score", "max")
    kept = torch.load(best, weights_only=True)
    torch.testing.assert_close(kept["state_dict"]["model.weight"], average.mean["model.weight"])
    assert kept["epoch"] == 4  # the rest of the checkpoint stays


def test_no_epoch_averaged_leaves_the_best_checkpoint_alone(tmp_path):
    module = Regression()
    best = _best_checkpoint(tmp_path, module)
    before = best.read_bytes()
    assert validate_average(LastEpochsAverage(first_epoch=9), module, _loader(), best, 0.0, "val_score", "max") is None
    assert best.read_bytes() == before

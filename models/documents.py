"""Lightning modules for the hierarchical models: document classification and extractive summarization."""

from __future__ import annotations

from dataclasses import dataclass

import pytorch_lightning as pl
import torch.nn.functional as F
from torch import Tensor

from attnops.models.config import OptimConfig
from attnops.models.hierarchical import DocumentModel, DocumentOutput
from attnops.models.optim import configure_optimizers


@dataclass
class DocumentBatch:
    """A batch of documents padded at both levels.

    Attributes:
        ids: ``(B, S, W)`` word ids; padding is 0.
        word_mask: ``(B, S, W)`` bool, True for real words.
        labels: ``(B,)`` class index of each document.
        sentence_labels: ``(B, S)`` float, 1 for a sentence of the reference summary (0 at padding).
    """

    ids: Tensor
    word_mask: Tensor
    labels: Tensor
    sentence_labels: Tensor


class DocumentModule(pl.LightningModule):
    """One ``_common_step`` for train/val/test; a subclass says what the loss and the metrics are."""

    monitor: tuple[str, str]
    """The validation metric that picks the best checkpoint, and ``max`` or ``min``."""

    def __init__(self, model: DocumentModel, optim: OptimConfig) -> None:
        super().__init__()
        self.model = model
        self.optim = optim

    def loss(self, output: DocumentOutput, batch: DocumentBatch) -> Tensor:
        raise NotImplementedError

    def metrics(self, output: DocumentOutput, batch: DocumentBatch) -> dict[str, Tensor]:
        raise NotImplementedError

    def _common_step(self, batch: DocumentBatch, stage: str) -> Tensor:
        output = self.model(batch.ids, batch.word_mask)
        loss = self.loss(output, batch)
        size = batch.ids.shape[0]
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=stage == "train", on_epoch=True, batch_size=size)
        if stage != "train":
            values = {f"{stage}_{name}": value for name, value in self.metrics(output, batch).items()}
            self.log_dict(values, prog_bar=True, on_epoch=True, batch_size=size)
        return loss

    def training_step(self, batch: DocumentBatch, batch_idx: int) -> Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: DocumentBatch, batch_idx: int) -> None:
        self._common_step(batch, "val")

    def configure_optimizers(self):
        return configure_optimizers(self, self.optim)


class ClassifierModule(DocumentModule):
    """Cross-entropy (label-smoothed) on the document label, plus one per part of the logits the model
    trains on its own (``DocumentOutput.parts``); accuracy on validation."""

    monitor = ("val_accuracy", "max")

    def loss(self, output: DocumentOutput, batch: DocumentBatch) -> Tensor:
        losses = [F.cross_entropy(logits, batch.labels, label_smoothing=self.optim.label_smoothing)
                  for logits in (output.scores, *output.parts)]  # fmt: skip
        return sum(losses[1:], losses[0])

    def metrics(self, output: DocumentOutput, batch: DocumentBatch) -> dict[str, Tensor]:
        return {"accuracy": (output.scores.argmax(dim=-1) == batch.labels).float().mean()}


class ExtractiveModule(DocumentModule):
    """Binary cross-entropy per real sentence against the oracle labels; precision@3 on validation."""

    monitor = ("val_precision_at_3", "max")

    def loss(self, output: DocumentOutput, batch: DocumentBatch) -> Tensor:
        mask = batch.word_mask.any(dim=2)  # (B, S): padded sentences take no part
        losses = F.binary_cross_entropy_with_logits(output.scores, batch.sentence_labels, reduction="none")
        return (losses * mask).sum() / mask.sum()

    def metrics(self, output: DocumentOutput, batch: DocumentBatch) -> dict[str, Tensor]:
        k = min(3, output.scores.shape[1])
        top = output.scores.topk(k, dim=1).indices  # (B, k)
        return {"precision_at_3": batch.sentence_labels.gather(1, top).mean()}


DOCUMENT_MODULES: dict[str, type[DocumentModule]] = {
    "classification": ClassifierModule,
    "summarization": ExtractiveModule,
}

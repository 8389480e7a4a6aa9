"""What the Lightning modules of the generating tasks (translation, summaries, captions) share: the step per
stage, and greedy decoding of the validation set scored by a text metric, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
from torch import Tensor

from attnops.models.config import OptimConfig
from attnops.models.optim import configure_optimizers
from attnops.models.search import SearchSettings, greedy_search
from attnops.models.seq2seq import SpecialTokens

GenerationMetric = Callable[..., dict[str, float]]
"""Scores hypotheses (lists of ids) against the batch columns :meth:`GeneratingModule.metric_columns` names."""


class GeneratingModule(pl.LightningModule):
    """A module whose ``self.model`` generates ids: subclasses write ``_common_step`` (the loss of a batch) and, where
    their batches differ, what the model encodes (:meth:`encoder_inputs`) and what the metric reads besides the
    hypotheses (:meth:`metric_columns`)."""

    def __init__(
        self, optim: OptimConfig, special: SpecialTokens, text_metric: GenerationMetric | None, val_max_length: int
    ) -> None:
        super().__init__()
        self.optim = optim
        self.special = special
        self.text_metric = text_metric
        self.val_settings = SearchSettings(bos=special.bos, eos=special.eos, pad=special.pad, max_length=val_max_length)
        self._val_columns: list[list[Any]] = []

    def _common_step(self, batch: Any, stage: str) -> Tensor:
        raise NotImplementedError

    def encoder_inputs(self, batch: Any) -> tuple[Tensor, Tensor]:
        """What the model encodes, in training and search: ``(B, S)`` source ids (or ``(B, S, C)`` features) and
        their ``(B, S)`` mask."""
        return batch.src, batch.src_mask

    def metric_columns(self, batch: Any) -> tuple[list[Any], ...]:
        """Per-example lists the metric takes after the hypotheses (by default the references)."""
        return (batch.references,)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._common_step(batch, "val")
        if self.text_metric is None:
            return
        hypotheses = greedy_search(self.model, *self.encoder_inputs(batch), self.val_settings)
        columns = ([h.tokens for h in hypotheses], *self.metric_columns(batch))
        self._val_columns = self._val_columns or [[] for _ in columns]
        for kept, new in zip(self._val_columns, columns):
            kept.extend(new)

    def on_validation_epoch_end(self) -> None:
        if self.text_metric is not None and self._val_columns and self._val_columns[0]:
            scores = self.text_metric(*self._val_columns)
            self.log_dict({f"val_{name}": value for name, value in scores.items()}, prog_bar=True)
        self._val_columns = []

    def configure_optimizers(self):
        return configure_optimizers(self, self.optim)

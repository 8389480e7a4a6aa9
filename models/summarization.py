"""Lightning module that trains a :class:`PointerGenerator` for abstractive summarization."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytorch_lightning as pl
from torch import Tensor

from attnops.models.config import OptimConfig, Seq2SeqConfig
from attnops.models.optim import configure_optimizers
from attnops.models.pointer import PointerGenerator, coverage_loss, pointer_nll
from attnops.models.search import SearchSettings, greedy_search
from attnops.models.seq2seq import SpecialTokens

SummaryMetric = Callable[[list[list[int]], list[list[str]], list[str]], dict[str, float]]
"""Scores hypotheses (extended ids) with each source's out-of-vocabulary words against reference texts."""


@dataclass
class SummaryBatch:
    """A padded batch of (document, summary) pairs in extended ids.

    Attributes:
        src: ``(B, S)`` extended source ids, right-padded.
        src_mask: ``(B, S)`` bool, True for real source tokens.
        tgt_in: ``(B, T)`` BOS + target ids (decoder input).
        tgt_out: ``(B, T)`` target ids + EOS, padded with PAD; a target word copied from the source
            has that source word's extended id.
        oovs: each source's out-of-vocabulary words, in extended-id order.
        references: raw summaries, for text metrics.
    """

    src: Tensor
    src_mask: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    oovs: list[list[str]]
    references: list[str]


class SummarizationModule(pl.LightningModule):
    """Teacher-forced NLL of the mixed distribution plus weighted coverage loss; greedy ROUGE on validation."""

    def __init__(
        self,
        model_config: Seq2SeqConfig,
        optim: OptimConfig,
        vocab_size: int,
        special: SpecialTokens,
        coverage_weight: float,
        text_metric: SummaryMetric | None = None,
        val_max_length: int = 30,
    ) -> None:
        super().__init__()
        self.model = PointerGenerator(model_config, vocab_size, special)
        self.optim = optim
        self.special = special
        self.coverage_weight = coverage_weight
        self.text_metric = text_metric
        self.val_settings = SearchSettings(bos=special.bos, eos=special.eos, pad=special.pad, max_length=val_max_length)
        self._val: tuple[list[list[int]], list[list[str]], list[str]] = ([], [], [])

    def _common_step(self, batch: SummaryBatch, stage: str) -> Tensor:
        log_probs, weights = self.model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V+S), (B, T, S)
        nll = pointer_nll(log_probs, batch.tgt_out, self.special.pad)
        coverage = coverage_loss(weights, batch.tgt_out != self.special.pad)
        loss = nll + self.coverage_weight * coverage
        size = batch.src.shape[0]
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=on_step, on_epoch=True, batch_size=size)
        self.log(f"{stage}_nll", nll, on_step=False, on_epoch=True, batch_size=size)
        self.log(f"{stage}_coverage_loss", coverage, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def training_step(self, batch: SummaryBatch, batch_idx: int) -> Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: SummaryBatch, batch_idx: int) -> None:
        self._common_step(batch, "val")
        if self.text_metric is not None:
            hypotheses = greedy_search(self.model, batch.src, batch.src_mask, self.val_settings)
            self._val[0].extend(h.tokens for h in hypotheses)
            self._val[1].extend(batch.oovs)
            self._val[2].extend(batch.references)

    def on_validation_epoch_end(self) -> None:
        if self.text_metric is not None and self._val[0]:
            scores = self.text_metric(*self._val)
            self.log_dict({f"val_{name}": value for name, value in scores.items()}, prog_bar=True)
        self._val = ([], [], [])

    def configure_optimizers(self):
        return configure_optimizers(self, self.optim)

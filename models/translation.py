"""Lightning module that trains a translation model (any of :data:`attnops.models.translators.ARCHITECTURES`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytorch_lightning as pl
import torch.nn.functional as F
from torch import Tensor

from attnops.models.config import OptimConfig
from attnops.models.optim import configure_optimizers
from attnops.models.search import SearchSettings, greedy_search
from attnops.models.seq2seq import SpecialTokens
from attnops.models.translators import TranslatorConfig, build_translator

TextMetric = Callable[[list[list[int]], list[str]], dict[str, float]]
"""Scores hypotheses (target ids) against raw reference strings, e.g. BLEU."""


@dataclass
class Seq2SeqBatch:
    """A padded batch of sentence pairs.

    Attributes:
        src: ``(B, S)`` source ids, right-padded.
        src_mask: ``(B, S)`` bool, True for real source tokens.
        tgt_in: ``(B, T)`` BOS + target ids (decoder input).
        tgt_out: ``(B, T)`` target ids + EOS (what the decoder must predict), padded with PAD.
        references: raw target sentences, for text metrics.
    """

    src: Tensor
    src_mask: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    references: list[str]


class TranslationModule(pl.LightningModule):
    """Teacher-forced, label-smoothed training; greedy decoding of the validation set for a metric."""

    def __init__(
        self,
        model_config: TranslatorConfig,
        optim: OptimConfig,
        src_vocab_size: int,
        tgt_vocab_size: int,
        special: SpecialTokens,
        text_metric: TextMetric | None = None,
        val_max_length: int = 80,
    ) -> None:
        super().__init__()
        self.model = build_translator(model_config, src_vocab_size, tgt_vocab_size, special)
        self.optim = optim
        self.special = special
        self.text_metric = text_metric
        self.val_settings = SearchSettings(bos=special.bos, eos=special.eos, pad=special.pad, max_length=val_max_length)
        self._val_hypotheses: list[list[int]] = []
        self._val_references: list[str] = []

    def _common_step(self, batch: Seq2SeqBatch, stage: str) -> Tensor:
        logits, _ = self.model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
        loss = F.cross_entropy(
            logits.flatten(0, 1),
            batch.tgt_out.flatten(),
            ignore_index=self.special.pad,
            label_smoothing=self.optim.label_smoothing,
        )
        self.log(
            f"{stage}_loss", loss, prog_bar=True, on_step=stage == "train", on_epoch=True, batch_size=batch.src.shape[0]
        )
        return loss

    def training_step(self, batch: Seq2SeqBatch, batch_idx: int) -> Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: Seq2SeqBatch, batch_idx: int) -> None:
        self._common_step(batch, "val")
        if self.text_metric is not None:
            hypotheses = greedy_search(self.model, batch.src, batch.src_mask, self.val_settings)
            self._val_hypotheses += [h.tokens for h in hypotheses]
            self._val_references += batch.references

    def on_validation_epoch_end(self) -> None:
        if self.text_metric is not None and self._val_hypotheses:
            scores = self.text_metric(self._val_hypotheses, self._val_references)
            self.log_dict({f"val_{name}": value for name, value in scores.items()}, prog_bar=True)
        self._val_hypotheses, self._val_references = [], []

    def configure_optimizers(self):
        return configure_optimizers(self, self.optim)

"""Lightning module that trains a translation model (any of :data:`attnops.models.translators.ARCHITECTURES`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from attnops.models.config import OptimConfig
from attnops.models.generation import GeneratingModule
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


class TranslationModule(GeneratingModule):
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
        super().__init__(optim, special, text_metric, val_max_length)
        self.model = build_translator(model_config, src_vocab_size, tgt_vocab_size, special)

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

"""Lightning module that trains a captioner with teacher forcing, plus the SAT attention penalty for the LSTM."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytorch_lightning as pl
import torch.nn.functional as F
from torch import Tensor

from attnops.models.captioners import CaptionModelConfig, build_captioner
from attnops.models.captioning import CaptionerConfig, grid_mask
from attnops.models.config import OptimConfig
from attnops.models.image_encoder import ImageEncoder
from attnops.models.optim import configure_optimizers
from attnops.models.search import SearchSettings, greedy_search
from attnops.models.seq2seq import SpecialTokens

logger = logging.getLogger(__name__)

CaptionMetric = Callable[[list[list[int]], list[list[str]]], dict[str, float]]
"""Scores hypotheses (word ids) against every reference caption of their image, e.g. BLEU-4 and CIDEr."""


@dataclass
class CaptionBatch:
    """A batch of images (as region grids) with one caption each.

    Attributes:
        src: ``(B, S, C)`` cached region features, or ``(B, 3, H, W)`` photos when the encoder is fine-tuned.
        src_mask: ``(B, S)`` bool, all True (unused with photos: the grid's mask comes with the grid).
        tgt_in: ``(B, T)`` BOS + caption ids.
        tgt_out: ``(B, T)`` caption ids + EOS, padded with PAD.
        references: every reference caption of each image (normalized text), for metrics.
    """

    src: Tensor
    src_mask: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    references: list[list[str]]


def attention_penalty(weights: Tensor, step_mask: Tensor) -> Tensor:
    """Doubly stochastic regularizer ``mean_b mean_i (1 − Σ_t α_ti)²`` over real (unpadded) steps.

    Args:
        weights: ``(B, T, S)`` attention per step.
        step_mask: ``(B, T)`` bool, True for real steps.
    """
    coverage = (weights * step_mask.unsqueeze(-1)).sum(dim=1)  # (B, S)
    return ((1.0 - coverage) ** 2).mean()


def penalty_weight(config: CaptionModelConfig) -> float | None:
    """λ of the doubly stochastic penalty, or None for an architecture it does not apply to.

    Only the soft-attention LSTM has one: its single attention per word is what SAT asks to cover every
    region over a caption. The Transformer's reported attention is one layer's heads averaged, not what
    its words are built from, so its config has no λ (``model.doubly_stochastic`` is an unknown key there).
    """
    return config.doubly_stochastic if isinstance(config, CaptionerConfig) else None


class CaptioningModule(pl.LightningModule):
    """Cross-entropy (+ λ·attention penalty for the LSTM); greedy captions of the validation images for a metric."""

    def __init__(
        self,
        model_config: CaptionModelConfig,
        optim: OptimConfig,
        feature_dim: int,
        vocab_size: int,
        special: SpecialTokens,
        text_metric: CaptionMetric | None = None,
        val_max_length: int = 30,
        image_encoder: ImageEncoder | None = None,
    ) -> None:
        super().__init__()
        self.model = build_captioner(model_config, feature_dim, vocab_size, special)
        self.penalty_weight = penalty_weight(model_config)
        if self.penalty_weight is None:
            logger.info("no doubly stochastic attention penalty: it applies to the soft_attention architecture only")
        self.image_encoder = image_encoder
        """The encoder whose top blocks are fine-tuned; None when batches carry cached grids."""
        self.optim = optim
        self.special = special
        self.text_metric = text_metric
        self.val_settings = SearchSettings(bos=special.bos, eos=special.eos, pad=special.pad, max_length=val_max_length)
        self._val_hypotheses: list[list[int]] = []
        self._val_references: list[list[str]] = []

    def on_train_epoch_start(self) -> None:
        if self.image_encoder is not None:
            self.image_encoder.eval()  # batch-norm statistics stay the pretrained ones, even in tuned blocks

    def grid(self, batch: CaptionBatch) -> tuple[Tensor, Tensor]:
        """The batch's region grid ``(B, S, C)`` and mask ``(B, S)``: cached, or from its photos."""
        if self.image_encoder is None:
            return batch.src, batch.src_mask
        grid = self.image_encoder(batch.src)  # (B, S, C)
        return grid, grid_mask(grid)

    def losses(self, batch: CaptionBatch) -> tuple[Tensor, Tensor | None]:
        """Token cross-entropy and the attention penalty (None where it does not apply) of a teacher-forced batch."""
        logits, weights = self.model(*self.grid(batch), batch.tgt_in)  # (B, T, V), (B, T, S)
        cross_entropy = F.cross_entropy(
            logits.flatten(0, 1),
            batch.tgt_out.flatten(),
            ignore_index=self.special.pad,
            label_smoothing=self.optim.label_smoothing,
        )
        if self.penalty_weight is None:
            return cross_entropy, None
        return cross_entropy, attention_penalty(weights, batch.tgt_out != self.special.pad)

    def _common_step(self, batch: CaptionBatch, stage: str) -> Tensor:
        cross_entropy, penalty = self.losses(batch)
        loss = cross_entropy if penalty is None else cross_entropy + self.penalty_weight * penalty
        log = partial(self.log, on_step=stage == "train", on_epoch=True, batch_size=batch.src.shape[0])
        log(f"{stage}_loss", loss, prog_bar=True)
        log(f"{stage}_xent", cross_entropy)
        if penalty is not None:
            log(f"{stage}_attention_penalty", penalty)
        return loss

    def training_step(self, batch: CaptionBatch, batch_idx: int) -> Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: CaptionBatch, batch_idx: int) -> None:
        self._common_step(batch, "val")
        if self.text_metric is not None:
            hypotheses = greedy_search(self.model, *self.grid(batch), self.val_settings)
            self._val_hypotheses += [h.tokens for h in hypotheses]
            self._val_references += batch.references

    def on_validation_epoch_end(self) -> None:
        if self.text_metric is not None and self._val_hypotheses:
            scores = self.text_metric(self._val_hypotheses, self._val_references)
            self.log_dict({f"val_{name}": value for name, value in scores.items()}, prog_bar=True)
        self._val_hypotheses, self._val_references = [], []

    def configure_optimizers(self):
        return configure_optimizers(self, self.optim)

"""A Transformer captioner: the translation Transformer's decoder, cross-attending over an image's region grid.

The "source" is the grid of region vectors ``(B, S, C)``, projected to ``d_model`` with learned row and
column positions and optionally refined by self-attention layers over the regions. The decoder, its
key/value cache and the incremental step are :class:`~attnops.models.transformer.TransformerDecoder`'s; the step's
attention is one decoder layer's cross-attention averaged over heads ``(B, S)``, so search, the per-word
attention maps and the export treat it like the LSTM captioner.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnops.models.config import TransformerLayersConfig
from attnops.models.seq2seq import SpecialTokens
from attnops.models.transformer import EncoderLayer, SourceToWords, TransformerDecoder


@dataclass
class CaptionTransformerConfig(TransformerLayersConfig):
    """Shape of the Transformer captioner and of the image encoder it reads."""

    architecture: str = "transformer"
    """Model family: transformer (this config) or soft_attention
    (:class:`~attnops.models.captioning.CaptionerConfig`)."""
    region_layers: int = 1
    """Self-attention layers over the regions before the decoder reads them (0: projection and positions only)."""
    max_grid_side: int = 16
    """Largest grid side (rows or columns) with a learned position; 5 at 160 px, 10 with ``tap_block: 10``."""
    tap_block: int | None = None
    """EfficientNet-Lite0 block whose output is the grid (None: head conv, 5×5×1280 at 160 px; 10: 10×10×112)."""
    trainable_blocks: int = 0
    """Top encoder blocks to fine-tune (0: frozen encoder, grid features can be cached)."""

    def __post_init__(self) -> None:
        if self.architecture != "transformer":
            raise ValueError(f"architecture={self.architecture!r} is not allowed here; this config is transformer")
        for key, low in (("region_layers", 0), ("max_grid_side", 1), ("trainable_blocks", 0)):
            if getattr(self, key) < low:
                raise ValueError(f"{key}={getattr(self, key)!r} must be >= {low}")
        super().__post_init__()


def grid_positions(features: Tensor) -> tuple[Tensor, Tensor]:
    """Row and column ``(S,)`` of each region of a row-major square grid ``(B, S, C)``.

    The side is computed with tensor operations so that an exported graph keeps the region count dynamic.
    """
    index = torch.arange(features.shape[1], device=features.device)  # (S,)
    side = torch.ones_like(index).sum().float().sqrt().round().long()  # sqrt(S), as a tensor
    rows = torch.div(index, side, rounding_mode="floor")  # (S,)
    return rows, index - rows * side


class RegionEncoder(nn.Module):
    """Region grid ``(B, S, C)`` → states ``(B, S, D)``: project, add learned row and column positions,
    ``region_layers`` pre-norm self-attention layers, final LayerNorm."""

    def __init__(self, config: CaptionTransformerConfig, feature_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.project = nn.Linear(feature_dim, d)
        self.rows, self.columns = nn.Embedding(config.max_grid_side, d), nn.Embedding(config.max_grid_side, d)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.region_layers))
        self.norm = nn.LayerNorm(d)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        side = self.rows.num_embeddings
        if features.shape[1] > side * side:
            raise ValueError(f"a grid of {features.shape[1]} regions has more than max_grid_side={side} rows")
        rows, columns = grid_positions(features)  # (S,) each
        positions = self.rows(rows) + self.columns(columns)  # (S, D)
        x = self.dropout(self.project(features) + positions)  # (B, S, D)
        attend = mask[:, None, None, :]  # (B, 1, 1, S)
        for layer in self.layers:
            x = layer(x, attend)
        return self.norm(x)


class CaptionTransformer(SourceToWords):
    """The Transformer captioner behind the search protocol: region grid ``(B, S, C)`` in, one word per step out."""

    def __init__(
        self, config: CaptionTransformerConfig, feature_dim: int, vocab_size: int, special: SpecialTokens
    ) -> None:
        super().__init__()
        self.config, self.special, self.feature_dim = config, special, feature_dim
        self.encoder = RegionEncoder(config, feature_dim)
        self.decoder = TransformerDecoder(config, vocab_size, special.pad)

    @property
    def vocab_size(self) -> int:
        return self.decoder.generator.out_features

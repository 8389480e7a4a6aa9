"""Caption model families by ``config.architecture``, built through one function."""

from __future__ import annotations

from models.caption_transformer import CaptionTransformer, CaptionTransformerConfig
from models.captioning import Captioner, CaptionerConfig
from models.seq2seq import SpecialTokens

CaptionModel = Captioner | CaptionTransformer
CaptionModelConfig = CaptionerConfig | CaptionTransformerConfig

ARCHITECTURES: dict[str, type[CaptionModel]] = {"soft_attention": Captioner, "transformer": CaptionTransformer}
"""Model classes by ``architecture``; each takes ``(config, feature_dim, vocab_size, special)``."""
CONFIGS: dict[str, type[CaptionModelConfig]] = {
    "soft_attention": CaptionerConfig,
    "transformer": CaptionTransformerConfig,
}
"""The config class of each architecture."""


def build_captioner(
    config: CaptionModelConfig, feature_dim: int, vocab_size: int, special: SpecialTokens
) -> CaptionModel:
    """An untrained captioner of ``config``'s architecture over region vectors of ``feature_dim`` channels."""
    return ARCHITECTURES[config.architecture](config, feature_dim, vocab_size, special)

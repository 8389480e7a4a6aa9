"""Caption model families by ``config.architecture``, built through one function."""

from __future__ import annotations

from attnops.models.caption_transformer import CaptionTransformer, CaptionTransformerConfig
from attnops.models.captioning import Captioner, CaptionerConfig
from attnops.models.seq2seq import SpecialTokens

CaptionModel = Captioner | CaptionTransformer
CaptionModelConfig = CaptionerConfig | CaptionTransformerConfig

ARCHITECTURES: dict[str, tuple[type[CaptionModelConfig], type[CaptionModel]]] = {
    "soft_attention": (CaptionerConfig, Captioner),
    "transformer": (CaptionTransformerConfig, CaptionTransformer),
}
"""Config and model class of each ``architecture``; a model takes ``(config, feature_dim, vocab_size, special)``."""
CONFIGS = {name: config for name, (config, _) in ARCHITECTURES.items()}
"""The config class of each architecture."""


def build_captioner(
    config: CaptionModelConfig, feature_dim: int, vocab_size: int, special: SpecialTokens
) -> CaptionModel:
    """An untrained captioner of ``config``'s architecture over region vectors of ``feature_dim`` channels."""
    _, model = ARCHITECTURES[config.architecture]
    return model(config, feature_dim, vocab_size, special)

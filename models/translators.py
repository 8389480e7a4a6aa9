"""Translation model families by ``config.architecture``, built through one function."""

from __future__ import annotations

from attnops.models.config import Seq2SeqConfig, TransformerConfig
from attnops.models.seq2seq import Seq2Seq, SpecialTokens
from attnops.models.transformer import Transformer

Translator = Seq2Seq | Transformer
TranslatorConfig = Seq2SeqConfig | TransformerConfig

ARCHITECTURES: dict[str, tuple[type[TranslatorConfig], type[Translator]]] = {
    "rnn": (Seq2SeqConfig, Seq2Seq),
    "transformer": (TransformerConfig, Transformer),
}
"""Config and model class of each ``architecture``; a model takes ``(config, src_vocab_size, tgt_vocab_size,
special)``."""
CONFIGS = {name: config for name, (config, _) in ARCHITECTURES.items()}
"""The config class of each architecture."""


def build_translator(
    config: TranslatorConfig, src_vocab_size: int, tgt_vocab_size: int, special: SpecialTokens
) -> Translator:
    """An untrained model of ``config``'s architecture."""
    _, model = ARCHITECTURES[config.architecture]
    return model(config, src_vocab_size, tgt_vocab_size, special)

"""Translation model families by ``config.architecture``, built through one function."""

from __future__ import annotations

from models.config import Seq2SeqConfig, TransformerConfig
from models.seq2seq import Seq2Seq, SpecialTokens
from models.transformer import Transformer

Translator = Seq2Seq | Transformer
TranslatorConfig = Seq2SeqConfig | TransformerConfig

ARCHITECTURES: dict[str, type[Translator]] = {"rnn": Seq2Seq, "transformer": Transformer}
"""Model classes by ``architecture``; each takes ``(config, src_vocab_size, tgt_vocab_size, special)``."""
CONFIGS: dict[str, type[TranslatorConfig]] = {"rnn": Seq2SeqConfig, "transformer": TransformerConfig}
"""The config class of each architecture."""


def build_translator(
    config: TranslatorConfig, src_vocab_size: int, tgt_vocab_size: int, special: SpecialTokens
) -> Translator:
    """An untrained model of ``config``'s architecture."""
    return ARCHITECTURES[config.architecture](config, src_vocab_size, tgt_vocab_size, special)

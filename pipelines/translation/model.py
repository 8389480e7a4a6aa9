"""A trained translation model as its run stores it: config, tokenizers and best weights."""

from __future__ import annotations

from dataclasses import dataclass

from attnops.models.translators import Translator, build_translator
from attnops.pipelines import tracking
from attnops.pipelines.fitting import load_weights
from attnops.pipelines.inference.artifacts import CHECKPOINT_ARTIFACT, TOKENIZER_ARTIFACT
from attnops.pipelines.translation.config import TranslationConfig
from attnops.pipelines.translation.tokenizer import TextCodec


@dataclass
class RunModel:
    config: TranslationConfig
    codec: TextCodec
    model: Translator


def build_model(config: TranslationConfig, codec: TextCodec) -> Translator:
    """An untrained model sized for ``codec``'s vocabularies."""
    return build_translator(config.model, codec.source.get_vocab_size(), codec.target.get_vocab_size(), codec.special)


def load_run_model(run_id: str, config: TranslationConfig) -> RunModel:
    """Download and rebuild the trained translation model of ``run_id`` (in eval mode)."""
    codec = TextCodec.load(tracking.download(run_id, TOKENIZER_ARTIFACT))
    model = load_weights(build_model(config, codec), tracking.download(run_id, CHECKPOINT_ARTIFACT))
    return RunModel(config, codec, model)

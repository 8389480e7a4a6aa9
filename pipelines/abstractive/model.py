"""A trained pointer-generator as its run stores it: config, vocabulary and best weights."""

from __future__ import annotations

from dataclasses import dataclass

from attnops.models.pointer import PointerGenerator
from attnops.pipelines import tracking
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.config import AbstractiveConfig
from attnops.pipelines.fitting import load_weights
from attnops.pipelines.inference.artifacts import CHECKPOINT_ARTIFACT, TOKENIZER_ARTIFACT


@dataclass
class RunModel:
    config: AbstractiveConfig
    codec: WordCodec
    model: PointerGenerator


def build_model(config: AbstractiveConfig, codec: WordCodec) -> PointerGenerator:
    return PointerGenerator(config.model, codec.size, codec.special)


def load_run_model(run_id: str, config: AbstractiveConfig) -> RunModel:
    """Download and rebuild the trained model of ``run_id`` (in eval mode)."""
    codec = WordCodec.load(tracking.download(run_id, TOKENIZER_ARTIFACT))
    model = load_weights(build_model(config, codec), tracking.download(run_id, CHECKPOINT_ARTIFACT))
    return RunModel(config, codec, model)

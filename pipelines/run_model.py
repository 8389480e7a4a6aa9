"""A trained model as a run stores it: resolved config, tokenizers and best weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from models.seq2seq import Seq2Seq
from pipelines import tracking
from pipelines.config import ExperimentConfig, load_config
from pipelines.tokenizer import TextCodec

CONFIG_ARTIFACT = "config.yaml"
TOKENIZER_ARTIFACT = "tokenizer"
CHECKPOINT_ARTIFACT = "checkpoint/best.ckpt"


@dataclass
class RunModel:
    config: ExperimentConfig
    codec: TextCodec
    model: Seq2Seq


def build_model(config: ExperimentConfig, codec: TextCodec) -> Seq2Seq:
    """An untrained model sized for ``codec``'s vocabularies."""
    return Seq2Seq(config.model, codec.source.get_vocab_size(), codec.target.get_vocab_size(), codec.special)


def load_weights(model: Seq2Seq, checkpoint: Path) -> Seq2Seq:
    """Load a Lightning checkpoint of a :class:`~models.translation.TranslationModule` into ``model``."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({key.removeprefix("model."): value for key, value in state.items()})
    return model.eval()


def load_run_model(run_id: str) -> RunModel:
    """Download and rebuild the trained model of ``run_id`` (in eval mode)."""
    config = load_config(tracking.download(run_id, CONFIG_ARTIFACT))
    codec = TextCodec.load(tracking.download(run_id, TOKENIZER_ARTIFACT))
    model = load_weights(build_model(config, codec), tracking.download(run_id, CHECKPOINT_ARTIFACT))
    return RunModel(config, codec, model)

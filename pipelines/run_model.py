"""A trained model as a run stores it: resolved config, tokenizers and best weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.hierarchical import DOCUMENT_MODELS, DocumentModel
from models.seq2seq import Seq2Seq
from pipelines import tracking
from pipelines.config import DocumentConfig, TranslationConfig, load_config
from pipelines.document_codec import DocumentCodec
from pipelines.errors import UserError
from pipelines.tokenizer import TextCodec

CONFIG_ARTIFACT = "config.yaml"
TOKENIZER_ARTIFACT = "tokenizer"
CHECKPOINT_ARTIFACT = "checkpoint/best.ckpt"


@dataclass
class RunModel:
    config: TranslationConfig
    codec: TextCodec
    model: Seq2Seq


def build_model(config: TranslationConfig, codec: TextCodec) -> Seq2Seq:
    """An untrained model sized for ``codec``'s vocabularies."""
    return Seq2Seq(config.model, codec.source.get_vocab_size(), codec.target.get_vocab_size(), codec.special)


def load_weights(model: nn.Module, checkpoint: Path) -> nn.Module:
    """Load a Lightning checkpoint (whose module keeps the network as ``self.model``) into ``model``."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({key.removeprefix("model."): value for key, value in state.items()})
    return model.eval()


def load_run_config(run_id: str) -> TranslationConfig | DocumentConfig:
    return load_config(tracking.download(run_id, CONFIG_ARTIFACT))


def load_run_model(run_id: str) -> RunModel:
    """Download and rebuild the trained translation model of ``run_id`` (in eval mode)."""
    config = load_run_config(run_id)
    if not isinstance(config, TranslationConfig):
        raise UserError(f"run {run_id} trained a {config.task} model, not a translation model")
    codec = TextCodec.load(tracking.download(run_id, TOKENIZER_ARTIFACT))
    model = load_weights(build_model(config, codec), tracking.download(run_id, CHECKPOINT_ARTIFACT))
    return RunModel(config, codec, model)


@dataclass
class DocumentRunModel:
    config: DocumentConfig
    codec: DocumentCodec
    model: DocumentModel


def build_document_model(config: DocumentConfig, codec: DocumentCodec) -> DocumentModel:
    """An untrained hierarchical model for ``config.task``, sized for ``codec``."""
    return DOCUMENT_MODELS[config.task](config.model, codec.vocab_size, len(codec.labels))


def load_document_model(run_id: str, config: DocumentConfig) -> DocumentRunModel:
    """Download and rebuild the trained hierarchical model of ``run_id`` (in eval mode)."""
    codec = DocumentCodec.load(tracking.download(run_id, TOKENIZER_ARTIFACT))
    model = load_weights(build_document_model(config, codec), tracking.download(run_id, CHECKPOINT_ARTIFACT))
    return DocumentRunModel(config, codec, model)

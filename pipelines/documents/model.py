"""A trained hierarchical model as its run stores it: config, vocabulary and best weights."""

from __future__ import annotations

from dataclasses import dataclass

from attnops.models.hierarchical import DOCUMENT_MODELS, DocumentModel
from attnops.pipelines import tracking
from attnops.pipelines.documents.codec import DocumentCodec
from attnops.pipelines.documents.config import DocumentConfig
from attnops.pipelines.fitting import load_weights
from attnops.pipelines.inference.artifacts import CHECKPOINT_ARTIFACT, TOKENIZER_ARTIFACT


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

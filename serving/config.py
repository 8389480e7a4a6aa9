"""Service settings: each model deployment's ``user_config`` in the Serve config (changed live)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.config import RuntimeConfig

DEFAULT_MODEL_URI = "models:/translation-de-en@champion"
DEFAULT_CAPTION_MODEL = "models:/captioning-flickr8k@champion"
DEFAULT_DOCUMENT_MODELS = {
    "classification": "models:/bbc-news-han@champion",
    "summarization": "models:/bbc-news-extractive@champion",
}


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_uri: str = DEFAULT_MODEL_URI
    """Registry URI of the exported model; an alias URI is followed (see ``poll_interval_s``)."""
    max_batch_size: int = Field(32, ge=1)
    """Most items (sentences, documents) run together (``@serve.batch``)."""
    batch_wait_timeout_s: float = Field(0.01, ge=0.0)
    """How long a batch waits to fill before it runs (a lone request waits this long too)."""
    poll_interval_s: float = Field(10.0, ge=0.0)
    """How often the alias is checked for a new version (0: never)."""
    runtime: RuntimeConfig | None = None
    """ONNX Runtime settings; default: the exported model's config."""


class ServiceSettings(_Settings):
    """The translation deployment's settings."""

    max_texts: int = Field(32, ge=1)
    """Most sentences in one request."""
    max_source_tokens: int = Field(128, ge=1)
    """Most BPE tokens in one source sentence."""


class DocumentServiceSettings(_Settings):
    """A document deployment's settings (classification or extractive summarization)."""

    task: Literal["classification", "summarization"] = "classification"
    """What the deployment serves; the model at ``model_uri`` must be of this task."""
    max_texts: int = Field(16, ge=1)
    """Most documents in one request."""
    max_document_bytes: int = Field(100_000, ge=1)
    """Largest document (UTF-8 bytes); longer ones are refused with 413. Documents within it are cut to
    the model's sentence and word limits, and the answer says so."""
    max_batch_size: int = Field(16, ge=1)


class CaptionServiceSettings(_Settings):
    """The captioning deployment's settings."""

    task: Literal["captioning"] = "captioning"
    model_uri: str = DEFAULT_CAPTION_MODEL
    max_image_bytes: int = Field(8 * 1024 * 1024, ge=1)
    """Largest upload (file bytes); larger ones are refused with 413."""
    max_image_pixels: int = Field(25_000_000, ge=1)
    """Width × height from the file's header; larger images are refused with 413 before decoding."""
    max_batch_size: int = Field(16, ge=1)

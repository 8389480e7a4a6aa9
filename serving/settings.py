"""Model deployment settings: each deployment's ``user_config`` in the Serve config (changed live)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.tasks import task_named


def default_model_uri(task: str) -> str:
    """The registry alias a deployment of ``task`` serves unless its ``user_config`` names another."""
    return f"models:/{task_named(task).model_name}@champion"


class ReplicaSettings(BaseModel):
    """What every model deployment reads from its ``user_config``."""

    model_config = ConfigDict(extra="forbid")

    task: str
    """What the deployment serves; the model at ``model_uri`` must be of this task."""
    model_uri: str
    """Registry URI of the exported model; an alias URI is followed (see ``poll_interval_s``)."""
    max_batch_size: int = Field(32, ge=1)
    """Most items (sentences, documents) run together."""
    batch_wait_timeout_s: float = Field(0.0, ge=0.0)
    """How long a batch started on an idle model waits for more items (a lone request waits this long too).
    A busy model's next batch takes every item that arrived during the running one, without waiting."""
    batch_by_length: bool = True
    """Batch items of similar length together (where the deployment measures length); False: arrival order."""
    max_batch_tokens: int | None = Field(None, ge=1)
    """Most items × longest item (words) per batch when batching by length (None: ``max_batch_size`` only)."""
    poll_interval_s: float = Field(10.0, ge=0.0)
    """How often the alias is checked for a new version (0: never)."""
    runtime: RuntimeConfig | None = None
    """ONNX Runtime settings; default: the exported model's config."""


class TranslationSettings(ReplicaSettings):
    """The translation deployment's settings."""

    task: Literal["translation"] = "translation"
    model_uri: str = default_model_uri("translation")
    max_texts: int = Field(32, ge=1)
    """Most sentences in one request."""
    max_source_tokens: int = Field(128, ge=1)
    """Most BPE tokens in one source sentence."""


class DocumentSettings(ReplicaSettings):
    """A document deployment's settings (classification or extractive summarization)."""

    task: Literal["classification", "summarization"] = "classification"
    model_uri: str = default_model_uri("classification")
    max_texts: int = Field(16, ge=1)
    """Most documents in one request."""
    max_document_bytes: int = Field(100_000, ge=1)
    """Largest document (UTF-8 bytes); longer ones are refused with 413. Documents within it are cut to
    the model's sentence and word limits, and the answer says so."""
    split_budget_s: float = Field(0.5, gt=0)
    """Longest sentence splitting of one document may take; past it the request is refused with 422. The
    longest BBC article (25 kB) splits in about 0.1 s; 100 kB of abbreviation-dense text would take 2–5 s."""
    max_batch_size: int = Field(16, ge=1)


class AbstractiveSettings(ReplicaSettings):
    """The abstractive summarization deployment's settings."""

    task: Literal["abstractive"] = "abstractive"
    model_uri: str = default_model_uri("abstractive")
    max_document_bytes: int = Field(100_000, ge=1)
    """Largest document (UTF-8 bytes); longer ones are refused with 413. Documents within it are cut to the
    model's ``data.max_source_words``, and the answer says so."""
    max_batch_size: int = Field(16, ge=1)


class CaptionSettings(ReplicaSettings):
    """The captioning deployment's settings."""

    task: Literal["captioning"] = "captioning"
    model_uri: str = default_model_uri("captioning")
    max_image_bytes: int = Field(8 * 1024 * 1024, ge=1)
    """Largest upload (file bytes); larger ones are refused with 413."""
    max_image_pixels: int = Field(25_000_000, ge=1)
    """Width × height from the file's header; larger images are refused with 413 before decoding."""
    max_batch_size: int = Field(16, ge=1)

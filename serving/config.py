"""Service settings: the model deployment's ``user_config`` in the Serve config (changed live)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipelines.config import RuntimeConfig

DEFAULT_MODEL_URI = "models:/translation-de-en@champion"


class ServiceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_uri: str = DEFAULT_MODEL_URI
    """Registry URI of the exported model; an alias URI is followed (see ``poll_interval_s``)."""
    max_texts: int = Field(32, ge=1)
    """Most sentences in one request."""
    max_source_tokens: int = Field(128, ge=1)
    """Most BPE tokens in one source sentence."""
    max_batch_size: int = Field(32, ge=1)
    """Most sentences decoded together (``@serve.batch``)."""
    batch_wait_timeout_s: float = Field(0.01, ge=0.0)
    """How long a batch waits to fill before it runs (a lone request waits this long too)."""
    poll_interval_s: float = Field(10.0, ge=0.0)
    """How often the alias is checked for a new version (0: never)."""
    runtime: RuntimeConfig | None = None
    """ONNX Runtime settings; default: the exported model's config."""

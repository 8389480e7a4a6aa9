"""Request and response bodies of the REST API (pydantic; unknown fields are rejected)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_BEAM_SIZE = 8


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TranslateRequest(_Body):
    text: str | None = Field(None, description="One sentence to translate.")
    texts: list[str] | None = Field(None, description="Several sentences, translated in one request.")
    beam_size: int | None = Field(None, ge=1, le=MAX_BEAM_SIZE, description="Default: the model's config.")
    max_length: int | None = Field(None, ge=1, le=512, description="Longest translation in tokens.")
    return_attention: bool = False

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("texts")
    @classmethod
    def _texts_not_blank(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("must hold at least one sentence")
            blank = [i for i, text in enumerate(value) if not text.strip()]
            if blank:
                raise ValueError(f"sentences {blank} are empty")
        return value

    @model_validator(mode="after")
    def _one_of_text_or_texts(self) -> TranslateRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self

    def sentences(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class Attention(_Body):
    source_tokens: list[str]
    target_tokens: list[str]
    weights: list[list[float]] = Field(description="One row per target token, one column per source token.")


class Translation(_Body):
    text: str
    attention: Attention | None = None


class ServedModel(_Body):
    name: str | None
    version: str | None
    alias: str | None
    uri: str


class TranslateResponse(_Body):
    translations: list[Translation]
    model: ServedModel


class ModelStatus(_Body):
    task: str
    model: ServedModel | None
    loaded_at: str | None
    last_error: str | None = Field(description="The last failed load or swap; the previous model keeps serving.")
    batches: int = Field(0, description="Batches decoded by this replica since it started.")
    largest_batch: int = Field(0, description="Most sentences decoded together so far.")

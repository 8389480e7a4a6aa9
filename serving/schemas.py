"""Request and response bodies of the REST API (pydantic; unknown fields are rejected)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

MAX_BEAM_SIZE = 8
MAX_SUMMARY_SENTENCES = 20
MAX_ITEMS = 64
"""Most sentences or documents in one request; each deployment's ``max_texts`` (default 16–32) is lower."""
MAX_SENTENCE_CHARS = 10_000
"""Longest sentence to translate; its tokens are counted against ``max_source_tokens`` (default 128) after."""
MAX_DOCUMENT_CHARS = 200_000
"""Longest document; each deployment's ``max_document_bytes`` (default 100 kB) is checked after."""
Sentence = Annotated[StrictStr, Field(max_length=MAX_SENTENCE_CHARS)]
Document = Annotated[StrictStr, Field(max_length=MAX_DOCUMENT_CHARS)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _TextOrTexts(_Body):
    """``text`` (one item) or ``texts`` (several), never both, never blank."""

    text: StrictStr | None = None
    texts: list[StrictStr] | None = None

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
                raise ValueError("must hold at least one text")
            blank = [i for i, text in enumerate(value) if not text.strip()]
            if blank:
                raise ValueError(f"texts {blank} are empty")
        return value

    @model_validator(mode="after")
    def _one_of_text_or_texts(self) -> _TextOrTexts:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self

    def items(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class TranslateRequest(_TextOrTexts):
    text: Sentence | None = Field(None, description="One sentence to translate.")
    texts: list[Sentence] | None = Field(
        None, max_length=MAX_ITEMS, description="Several sentences, translated in one request."
    )
    beam_size: int | None = Field(None, ge=1, le=MAX_BEAM_SIZE, description="Default: the model's config.")
    max_length: int | None = Field(None, ge=1, le=512, description="Longest translation in tokens.")
    return_attention: bool = False
    return_scores: bool = Field(False, description="Also return each translation's confidence figures.")

    def sentences(self) -> list[str]:
        return self.items()


class ClassifyRequest(_TextOrTexts):
    text: Document | None = Field(None, description="One document (paragraphs separated by blank lines).")
    texts: list[Document] | None = Field(
        None, max_length=MAX_ITEMS, description="Several documents, classified in one request."
    )
    return_attention: bool = Field(False, description="Also return the word and sentence attention weights.")


class SummarizeRequest(_Body):
    text: Document = Field(description="The document to summarize (paragraphs separated by blank lines).")
    mode: Literal["extractive", "abstractive"] = Field(
        "extractive",
        description="extractive (default): the document's best sentences; abstractive: a short summary written "
        "by the abstractive model, which may copy rare words from the document.",
    )
    max_sentences: int = Field(3, ge=1, le=MAX_SUMMARY_SENTENCES, description="Extractive: sentences in the summary.")
    max_words: int | None = Field(None, ge=1, le=5000, description="Extractive: optional word budget.")
    beam_size: int | None = Field(None, ge=1, le=MAX_BEAM_SIZE, description="Abstractive: default the model's config.")
    max_length: int | None = Field(None, ge=1, le=200, description="Abstractive: longest summary in words.")
    return_attention: bool = Field(
        False, description="Extractive: sentence and word weights; abstractive: attention and copy probabilities."
    )
    return_scores: bool = Field(False, description="Abstractive: also return the summary's confidence figures.")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _options_of_the_mode(self) -> SummarizeRequest:
        abstractive_only = ("beam_size", "max_length", "return_scores")
        other = abstractive_only if self.mode == "extractive" else ("max_sentences", "max_words")
        given = sorted(set(other) & self.model_fields_set)
        if given:
            raise ValueError(f"{', '.join(given)} do not apply to mode {self.mode!r}")
        return self


class Attention(_Body):
    source_tokens: list[str]
    target_tokens: list[str]
    weights: list[list[float]] = Field(description="One row per target token, one column per source token.")


class ConfidenceScores(_Body):
    """Confidence figures of a decoded text (a translation, a summary) that need no reference."""

    mean_logprob: float = Field(description="The search's score per output token (log-probability, <= 0).")
    attention_entropy: float = Field(
        description="Mean entropy of each output token's attention over the source, divided by its maximum "
        "(log of the source length): 0 attends to one token, 1 spreads evenly."
    )


class Translation(_Body):
    text: str
    attention: Attention | None = None
    scores: ConfidenceScores | None = None


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
    registry: Literal["reachable", "unreachable"] = Field(
        "reachable", description="Whether the last alias poll reached the registry; the loaded model serves either way."
    )
    batches: int = Field(0, description="Batches decoded by this replica since it started.")
    largest_batch: int = Field(0, description="Most sentences decoded together so far.")


class SentenceAttention(_Body):
    text: str
    weight: float = Field(description="Sentence-level attention weight.")
    words: list[str]
    word_weights: list[float] = Field(description="Word-level attention weights within the sentence (sum to 1).")


class DocumentLabel(_Body):
    label: str
    probabilities: dict[str, float]
    truncated: bool = Field(description="True when the document was cut to the model's sentence or word limits.")
    attention: list[SentenceAttention] | None = None


class ClassifyResponse(_Body):
    results: list[DocumentLabel]
    model: ServedModel


class SummarySentence(_Body):
    index: int = Field(description="Position of the sentence in the document (0-based).")
    text: str
    score: float = Field(description="Probability that the sentence belongs in the summary.")


class SummaryWord(_Body):
    word: str
    copy_probability: float = Field(
        description="The probability the model gave to copying from the document (1 - p_gen)."
    )
    copied: bool = Field(description="True for a document word outside the vocabulary: only copying can write it.")


class SummarizeResponse(_Body):
    summary: str
    mode: Literal["extractive", "abstractive"] = "extractive"
    sentences: list[SummarySentence] = Field(description="Extractive: the selected sentences; abstractive: empty.")
    truncated: bool = Field(description="True when the document was cut to the model's sentence or word limits.")
    attention: list[SentenceAttention] | None = None
    words: list[SummaryWord] | None = Field(None, description="Abstractive, on request: each summary word.")
    alignment: Attention | None = Field(None, description="Abstractive, on request: attention over document words.")
    scores: ConfidenceScores | None = Field(None, description="Abstractive, on request: confidence figures.")
    model: ServedModel

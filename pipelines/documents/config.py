"""The document experiments: hierarchical attention for classification or extractive summarization."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attnops.models.config import HierarchicalConfig
from attnops.pipelines.config import DataSection, ExperimentConfig, RegistryConfig, Section, TrainConfig

MODEL_NAMES = {"classification": "bbc-news-han", "summarization": "bbc-news-extractive"}
"""Registered model name of each document task's export (and of the model the service deploys)."""
DOCUMENT_SPLITS = ("train", "val", "test")
"""The stratified split of the corpus every run sees."""
GATE_METRICS = {"classification": "test_accuracy", "summarization": "test_rougeL"}


class DocumentDataConfig(DataSection):
    """A corpus of documents with a category and an extractive summary (BBC News Summary)."""

    dataset: str = "bbc_news_summary"
    """A folder under the data root holding ``<dataset>.jsonl.gz``."""
    val_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    split_seed: int = 13
    """Seed of the stratified train/val/test split (fixed, so every run sees the same test set)."""
    include_title: bool = False
    """Read the headline as the document's first sentence (never part of a summary)."""
    max_sentences: int = Field(40, ge=1)
    """Sentences kept per document; later ones are dropped (and a served answer says so)."""
    max_words: int = Field(60, ge=1)
    """Words kept per sentence."""
    vocab_size: int = Field(30000, ge=100)
    """Word vocabulary size (lowercased words of the training documents)."""
    min_frequency: int = Field(2, ge=1)
    max_train_examples: int | None = Field(None, ge=1)
    """Use only the first N training documents (None: all)."""


class SummaryConfig(Section):
    """How an extractive summary is chosen and scored."""

    max_sentences: int = Field(3, ge=1)
    """Sentences selected (the top-scoring ones, returned in document order); lead-3 uses 3 too."""
    max_words: int | None = Field(None, ge=1)
    """Optional word budget: stop adding sentences once it would be exceeded."""
    rank_by: Literal["probability", "expected_words"] = "expected_words"
    """Order in which sentences are taken: by the model's probability, or by the summary words a
    sentence is expected to bring (probability × its length), which suits a sentence budget against
    long references (ROUGE)."""


class DocumentConfig(ExperimentConfig):
    """Hierarchical attention over a document: classification, or extractive summarization."""

    task: Literal["classification", "summarization"]
    model: HierarchicalConfig = HierarchicalConfig()
    data: DocumentDataConfig = DocumentDataConfig()
    train: TrainConfig = TrainConfig()
    summary: SummaryConfig = SummaryConfig()


class ClassificationConfig(DocumentConfig):
    task: Literal["classification"] = "classification"
    registry: RegistryConfig = RegistryConfig(
        model_name=MODEL_NAMES["classification"], gate_metric=GATE_METRICS["classification"]
    )


class SummarizationConfig(DocumentConfig):
    task: Literal["summarization"] = "summarization"
    registry: RegistryConfig = RegistryConfig(
        model_name=MODEL_NAMES["summarization"], gate_metric=GATE_METRICS["summarization"]
    )

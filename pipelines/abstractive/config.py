"""The abstractive summarization experiment: a pointer-generator over (document, summary) pairs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attnops.models.config import Seq2SeqConfig
from attnops.pipelines.config import DataSection, DecodingTrainConfig, ExperimentConfig, RegistryConfig

MODEL_NAME = "aeslc-pointer"
"""Registered model name the service deploys for abstractive summaries unless configured otherwise."""
GATE_METRIC = "test_rougeL"


class SummaryDataConfig(DataSection):
    dataset: Literal["aeslc", "scitldr"] = "aeslc"
    """A folder under the data root: aeslc (email -> subject line) or scitldr (abstract -> TLDR)."""
    max_source_words: int = Field(200, ge=4)
    """Source words kept (the rest of a longer document is cut, in training and at inference)."""
    max_target_words: int = Field(30, ge=2)
    """Target words kept in training."""
    vocab_size: int = Field(20000, ge=100)
    """Word vocabulary (lowercased, specials included); other words are copied or become <unk>."""
    min_frequency: int = Field(2, ge=1)
    max_train_examples: int | None = Field(None, ge=1)
    """Use only the first N training pairs (None: all)."""
    max_val_examples: int | None = Field(None, ge=1)
    """Use only the first N validation pairs (None: all); each epoch decodes them."""
    max_test_examples: int | None = Field(None, ge=1)
    """Use only the first N test pairs (None: all)."""
    lead_words: int = Field(6, ge=1)
    """Length of the lead-N-words baseline."""


class SummaryTrainConfig(DecodingTrainConfig):
    coverage_weight: float = Field(1.0, ge=0.0)
    """Weight of the coverage loss (0: coverage is fed to the scorer but not penalised)."""
    min_decode_length: int = Field(0, ge=0)
    """Search emits at least this many words before it may stop."""
    max_decode_length: int = Field(30, ge=1)
    """Longest summary search may produce (words)."""


class AbstractiveConfig(ExperimentConfig):
    task: Literal["abstractive"] = "abstractive"
    model: Seq2SeqConfig = Seq2SeqConfig()
    data: SummaryDataConfig = SummaryDataConfig()
    train: SummaryTrainConfig = SummaryTrainConfig()
    registry: RegistryConfig = RegistryConfig(model_name=MODEL_NAME, gate_metric=GATE_METRIC)

"""The translation experiment: a seq2seq model with attention over a parallel corpus."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attnops.models.config import Seq2SeqConfig
from attnops.models.translators import CONFIGS
from attnops.pipelines.config import (
    DataSection,
    DecodingTrainConfig,
    ExperimentConfig,
    RegistryConfig,
    Section,
    architecture_union,
)

MODEL_NAME = "translation-de-en"
"""Registered model name of a translation export (and of the model the service deploys)."""
TRAIN_TOKENS_PARAM = "data.tokens.train_used"
"""Run param: source and target tokens (with </s>) in one epoch of the training pairs."""
SPLITS = ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")
"""Multi30k task-1 splits, in the names of its raw files."""
OWN_SPLITS = ("train", "val", "test")
"""Splits of a user's own data (``data.path``: one JSON Lines file each)."""
TEST_SPLITS = (*SPLITS[2:], "test")


ModelConfig = architecture_union(CONFIGS, default="rnn")
"""``model.architecture`` picks the model family: rnn (the default) or transformer."""


class TokenizerConfig(Section):
    joint: bool = False
    """One BPE vocabulary for both languages (True) or one per language (False)."""
    vocab_size: int = Field(8000, ge=100)
    """BPE vocabulary size (per tokenizer)."""
    min_frequency: int = Field(2, ge=1)
    """Minimum pair frequency for a BPE merge."""


class DataConfig(DataSection):
    dataset: str = "multi30k"
    """A folder under the data root (local copy) or a Hugging Face hub dataset id."""
    source_lang: Literal["de", "en"] = "de"
    target_lang: Literal["de", "en"] = "en"
    hub_splits: dict[str, str] = {"train": "train", "val": "validation", "test_2016_flickr": "test"}
    """For a hub dataset: our split name → the hub's split name."""
    max_train_examples: int | None = Field(None, ge=1)
    """Use only the first N training pairs (None: all)."""
    max_eval_examples: int | None = Field(None, ge=1)
    """Use only the first N pairs of validation and test splits (None: all)."""
    max_tokens: int = Field(100, ge=4)
    """Training pairs with a longer (tokenized) side are dropped."""
    tokenizer: TokenizerConfig = TokenizerConfig()


class TranslationConfig(ExperimentConfig):
    task: Literal["translation"] = "translation"
    model: ModelConfig = Seq2SeqConfig()
    data: DataConfig = DataConfig()
    train: DecodingTrainConfig = DecodingTrainConfig()
    registry: RegistryConfig = RegistryConfig(model_name=MODEL_NAME, gate_metric="test_2016_flickr_bleu")

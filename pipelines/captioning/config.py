"""The captioning experiment: a caption decoder (Show, Attend and Tell, or a Transformer) over a pretrained encoder's
region grid."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attnops.models.captioners import CONFIGS
from attnops.models.captioning import CaptionerConfig
from attnops.pipelines.config import (
    DataSection,
    DecodingTrainConfig,
    ExperimentConfig,
    ExportConfig,
    RegistryConfig,
    TrackingConfig,
    architecture_union,
)

MODEL_NAME = "captioning-flickr8k"
"""Registered model name of a captioning export (and of the model the service deploys)."""

CaptionModelSection = architecture_union(CONFIGS, default="soft_attention")
"""``model.architecture`` picks the caption model family: soft_attention (the default) or transformer."""


class CaptionDataConfig(DataSection):
    """Photos with several reference captions each (flickr8k_mini: ``captions.jsonl.gz`` and ``images/``)."""

    dataset: str = "flickr8k_mini"
    """A folder under the data root."""
    min_word_frequency: int = Field(5, ge=1)
    """Words seen fewer times in the training captions become ``<unk>``."""
    augment: Literal["none", "hflip"] = "none"
    """Training augmentation: hflip also trains on left-right mirrored photos (their grids are cached too)."""
    max_train_examples: int | None = Field(None, ge=1)
    """Use only the first N training photos (None: all)."""
    max_eval_examples: int | None = Field(None, ge=1)
    """Use only the first N validation and test photos (None: all)."""


class CaptioningConfig(ExperimentConfig):
    """A caption decoder over a pretrained encoder's region grid: the soft-attention LSTM or a Transformer."""

    task: Literal["captioning"] = "captioning"
    model: CaptionModelSection = CaptionerConfig()
    data: CaptionDataConfig = CaptionDataConfig()
    train: DecodingTrainConfig = DecodingTrainConfig(max_decode_length=30, eval_beam_size=3, early_stopping_patience=5)
    tracking: TrackingConfig = TrackingConfig(experiment="attnops-captioning", heatmap_sentences=4)
    export: ExportConfig = ExportConfig(parity_split="test")
    registry: RegistryConfig = RegistryConfig(model_name=MODEL_NAME, gate_metric="test_cider")

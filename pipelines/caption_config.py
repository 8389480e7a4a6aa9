"""The captioning experiment config: the shared sections plus a caption model and caption data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from models.captioning import CaptionerConfig
from pipelines.config import (
    DATA_DIR_ENV,
    REPO_ROOT,
    ExportConfig,
    RegistryConfig,
    RuntimeConfig,
    TrackingConfig,
    TrainConfig,
    _apply_override,
    _describe,
    _flatten,
    _Section,
)
from pipelines.errors import UserError


class CaptionDataConfig(_Section):
    dataset: str = "flickr8k_mini"
    """A folder under the data root with ``captions.jsonl.gz`` and ``images/``."""
    root: str | None = None
    """Data root; default $ATTNOPS_DATA_DIR, else ../shared/data beside the repository."""
    min_word_frequency: int = Field(5, ge=1)
    """Words seen fewer times in the training captions become ``<unk>``."""
    augment: Literal["none", "hflip"] = "none"
    """Training augmentation: hflip also trains on left-right mirrored photos (their grids are cached too)."""
    max_train_images: int | None = Field(None, ge=1)
    """Use only the first N training photos (None: all)."""
    max_eval_images: int | None = Field(None, ge=1)
    """Use only the first N validation and test photos (None: all)."""

    def data_root(self) -> Path:
        """Resolve the data root from the config, the environment or the default."""
        root = self.root or os.environ.get(DATA_DIR_ENV) or str(REPO_ROOT.parent / "shared" / "data")
        return Path(root).expanduser().resolve()


class CaptioningConfig(_Section):
    task: Literal["captioning"] = "captioning"
    model: CaptionerConfig = CaptionerConfig()
    data: CaptionDataConfig = CaptionDataConfig()
    train: TrainConfig = TrainConfig(max_decode_length=30, eval_beam_size=3, early_stopping_patience=4)
    tracking: TrackingConfig = TrackingConfig(experiment="attnops-captioning", heatmap_sentences=4)
    runtime: RuntimeConfig = RuntimeConfig()
    export: ExportConfig = ExportConfig(parity_split="test")
    registry: RegistryConfig = RegistryConfig(model_name="captioning-flickr8k", gate_metric="test_cider")

    def flat(self) -> dict[str, Any]:
        """Every resolved value as ``{"dotted.key": value}`` (what is logged as MLflow params)."""
        return _flatten(self.model_dump(mode="json"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def names_captioning(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether the YAML file (with overrides) sets ``task: captioning``; other problems are left to the loader."""
    try:
        tree = yaml.safe_load(Path(path).read_text()) if path is not None and Path(path).is_file() else {}
    except yaml.YAMLError:
        return False
    tree = tree if isinstance(tree, dict) else {}
    for override in overrides:
        _apply_override(tree, override)
    return tree.get("task") == "captioning"


def load_captioning_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> CaptioningConfig:
    """Read a captioning YAML file (or the defaults) and apply ``KEY=VALUE`` overrides.

    Raises:
        UserError: a missing or malformed file, unknown keys, or invalid values.
    """
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise UserError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    for override in overrides:
        _apply_override(tree, override)
    try:
        return CaptioningConfig.model_validate(tree)
    except ValidationError as exc:
        raise UserError(f"invalid config{f' {path}' if path else ''}: {_describe(exc)}") from exc

"""Tiny trained and exported models, one per task, trained once per test run into a template MLflow store;
each module that needs some gets a copy of that store (runs, metrics, artifacts and exports) to change freely."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.export import ExportResult, export_run
from attnops.pipelines.train import TrainResult, train

CONFIGS = REPO_ROOT / "pipelines/configs"


@dataclass(frozen=True)
class Recipe:
    config_file: str
    """Under ``pipelines/configs/``."""
    overrides: tuple[str, ...]
    quantize: str | None = None


RECIPES = {
    "translation": Recipe(
        "translation/demo.yaml",
        (
            "data.max_train_examples=800",
            "data.max_eval_examples=12",
            "data.tokenizer.vocab_size=400",
            "model.embedding_dim=32",
            "model.hidden_size=48",
            "train.max_epochs=2",
            "train.batch_size=32",
            "train.eval_beam_size=2",
            "train.max_decode_length=20",
            "tracking.heatmap_sentences=0",
            "tracking.system_metrics=false",
        ),
    ),
    "classification": Recipe(
        "classification/bbc-han.yaml",
        (
            "data.max_train_examples=300",
            "data.max_sentences=12",
            "data.max_words=30",
            "data.vocab_size=6000",
            "model.embedding_dim=24",
            "model.word_hidden_size=24",
            "model.sentence_hidden_size=24",
            "train.max_epochs=2",
            "train.batch_size=32",
            "tracking.heatmap_sentences=2",
            "tracking.system_metrics=false",
        ),
    ),
    "captioning": Recipe(
        "captioning/flickr8k-soft.yaml",
        (
            "data.max_train_examples=60",
            "data.max_eval_examples=8",
            "data.min_word_frequency=2",
            "model.embedding_dim=32",
            "model.hidden_size=48",
            "train.max_epochs=1",
            "train.batch_size=32",
            "train.num_threads=1",
            "train.max_decode_length=12",
            "tracking.heatmap_sentences=1",
            "tracking.system_metrics=false",
            "export.parity_split=val",
        ),
    ),
    "abstractive": Recipe(
        "summarization/aeslc-pointer.yaml",
        (
            "data.max_train_examples=300",
            "data.max_val_examples=16",
            "data.max_test_examples=24",
            "data.max_source_words=60",
            "data.vocab_size=800",
            "model.embedding_dim=16",
            "model.hidden_size=24",
            "train.max_epochs=2",
            "train.batch_size=32",
            "train.eval_beam_size=2",
            "tracking.heatmap_sentences=2",
            "tracking.system_metrics=false",
        ),
        quantize="int8",
    ),
}
"""One tiny model per task: the settings each integration module trained with before it shared them."""
RECIPES["summarization"] = Recipe("summarization/bbc-extractive.yaml", RECIPES["classification"].overrides)


@dataclass(frozen=True)
class Trained:
    run: TrainResult
    export: ExportResult

    @property
    def run_id(self) -> str:
        return self.run.run_id


class TinyModels:
    """The template store, with each task's model trained on first request (a module needing one task trains
    only that one)."""

    def __init__(self, root: Path, new_store: Callable[[Path], str]) -> None:
        self.root = root
        self.uri = new_store(root)
        self._trained: dict[str, Trained] = {}

    def trained(self, task: str) -> Trained:
        if task not in self._trained:
            self._trained[task] = train_tiny(task, self.uri, self.root)
        return self._trained[task]

    def copy(self, folder: Path, *tasks: str) -> tuple[str, dict[str, Trained]]:
        """A store in ``folder`` holding the runs and exports of ``tasks`` (and any trained before); its URI."""
        trained = {task: self.trained(task) for task in tasks}
        shutil.copyfile(self.root / "mlflow.db", folder / "mlflow.db")
        shutil.copytree(self.root / "mlruns", folder / "mlruns")
        _rewrite_paths(folder / "mlflow.db", str(self.root), str(folder))
        _forget_artifact_locations()
        return f"sqlite:///{folder / 'mlflow.db'}", trained


def train_tiny(task: str, tracking_uri: str, folder: Path) -> Trained:
    """Train and export ``task``'s tiny model into ``tracking_uri``, working in ``folder`` (the artifacts of a
    SQLite store go to its ./mlruns)."""
    recipe = RECIPES[task]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.setenv("ATTNOPS_HOME", str(folder / "attnops-home"))
        env.setenv("ATTNOPS_CACHE_DIR", str(folder / "cache"))
        env.chdir(folder)
        config_path = CONFIGS / recipe.config_file
        run = train(load_config(config_path, list(recipe.overrides)), config_path)
        return Trained(run, export_run(run.run_id, quantize=recipe.quantize))


def _forget_artifact_locations() -> None:
    """MLflow keeps each run's artifact repository in a process-wide cache keyed by run id, whatever the store:
    without this, an artifact logged to a copied run (a drift reference) would land in the store it was
    copied from."""
    from mlflow.tracking._tracking_service import utils

    utils._artifact_repos_cache.clear()


def _rewrite_paths(database: Path, old: str, new: str) -> None:
    """Point every artifact location the store records (experiments, runs, logged models, model versions) at
    the copy's own artifacts."""
    with closing(sqlite3.connect(database)) as db, db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")').fetchall():
                if "CHAR" in kind.upper() or "TEXT" in kind.upper():
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) WHERE instr("{column}", ?) > 0',
                        (old, new, old),
                    )

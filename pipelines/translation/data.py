"""Parallel-corpus loading through Hugging Face ``datasets`` (local Multi30k copy or a hub id)."""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines.data.location import DATA_DIR_ENV
from attnops.pipelines.data.records import split_records
from attnops.pipelines.errors import UserError
from attnops.pipelines.translation.config import OWN_SPLITS, SPLITS, DataConfig

log = logging.getLogger(__name__)


@dataclass
class ParallelSplit:
    """Aligned source and target sentences of one split."""

    sources: list[str]
    targets: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def head(self, n: int | None) -> ParallelSplit:
        return self if n is None else ParallelSplit(self.sources[:n], self.targets[:n])


def _read_lines(path: Path) -> list[str]:
    """One sentence per line of a (possibly gzipped) text file, through the ``text`` builder."""
    from datasets import disable_progress_bars, load_dataset
    from datasets.exceptions import DatasetGenerationError

    disable_progress_bars()  # "Generating train split" for every file read says nothing a user needs
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        if not handle.read(1):
            return []  # the text builder cannot build an empty dataset
    try:
        return load_dataset("text", data_files=str(path), split="train", keep_linebreaks=False)["text"]
    except DatasetGenerationError as exc:
        raise UserError(f"cannot read {path}: {exc.__cause__ or exc}") from exc


def _load_local(folder: Path, config: DataConfig) -> dict[str, ParallelSplit]:
    raw = folder / "raw"
    corpus = {}
    for split in SPLITS:
        files = {lang: raw / f"{split}.{lang}.gz" for lang in (config.source_lang, config.target_lang)}
        missing = [str(f) for f in files.values() if not f.is_file()]
        if missing:
            raise UserError(f"data split {split!r} is missing: {', '.join(missing)}")
        sides = {lang: _read_lines(path) for lang, path in files.items()}
        src, tgt = sides[config.source_lang], sides[config.target_lang]
        if len(src) != len(tgt):
            raise UserError(f"data split {split!r} is not aligned: {len(src)} vs {len(tgt)} lines")
        corpus[split] = ParallelSplit(src, tgt)
    return corpus


def _load_own(folder: Path) -> dict[str, ParallelSplit]:
    """``{"source": ..., "target": ...}`` records of ``train.jsonl``, ``val.jsonl`` and ``test.jsonl``."""
    corpus = {}
    for split in OWN_SPLITS:
        records = split_records(folder, split, ("source", "target"))
        corpus[split] = ParallelSplit([r["source"] for r in records], [r["target"] for r in records])
    return corpus


def _load_hub(name: str, config: DataConfig) -> dict[str, ParallelSplit]:
    from datasets import load_dataset

    corpus = {}
    for ours, theirs in config.hub_splits.items():
        rows = load_dataset(name, split=theirs)
        corpus[ours] = ParallelSplit(rows[config.source_lang], rows[config.target_lang])
    return corpus


def load_corpus(config: DataConfig) -> dict[str, ParallelSplit]:
    """Load every split, truncated as the config asks.

    ``data.path`` is read in the own-data format; else a name that is a folder under the data root is read
    from disk, and any other name containing a ``/`` is taken as a hub dataset id.

    Raises:
        UserError: a missing data folder or split, an unaligned split, or an empty training split.
    """
    if config.source_lang == config.target_lang:
        raise UserError(f"data.source_lang and data.target_lang are both {config.source_lang!r}")
    folder = config.folder()
    if config.path:
        corpus = _load_own(folder)
    elif folder.is_dir():
        corpus = _load_local(folder, config)
    elif "/" in config.dataset:
        corpus = _load_hub(config.dataset, config)
    else:
        raise UserError(f"data folder not found: {folder} (set data.root or ${DATA_DIR_ENV})")
    if "train" not in corpus or "val" not in corpus:
        raise UserError(f"dataset {config.dataset!r} needs a train and a val split, got {sorted(corpus)}")
    corpus = {
        split: data.head(config.max_train_examples if split == "train" else config.max_eval_examples)
        for split, data in corpus.items()
    }
    if len(corpus["train"]) == 0:
        raise UserError(f"the training split of {config.dataset!r} is empty")
    log.info("loaded %s", {split: len(data) for split, data in corpus.items()})
    return corpus

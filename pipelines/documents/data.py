"""The BBC News Summary corpus: deduplicated, split into sentences, oracle-labelled, split by category.

Sentence splitting and labelling take about a minute for the 2,127 articles, so the prepared
articles are cached (``$ATTNOPS_CACHE_DIR``, default ``~/.cache/attnops``) keyed by the source file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sklearn.model_selection import train_test_split
from tqdm import tqdm

from attnops.pipelines.data.records import data_file, read_jsonl
from attnops.pipelines.documents.config import DocumentDataConfig
from attnops.pipelines.documents.sentences import oracle_labels, split_sentences
from attnops.pipelines.errors import UserError

log = logging.getLogger(__name__)

CACHE_ENV = "ATTNOPS_CACHE_DIR"
OWN_FILE = "documents.jsonl"
"""The file of a user's own documents in a ``data.path`` folder."""
PREPARATION_VERSION = 2
"""Bump when splitting or labelling changes, so cached preparations are rebuilt."""


@dataclass
class Document:
    """One article, its sentences, its category and its extractive summary."""

    id: str
    category: str
    title: str
    sentences: list[str]
    summary: str
    labels: list[int]
    """Oracle label per sentence: 1 when the sentence is part of the human summary."""
    summary_sentences: int
    matched_summary_sentences: int


@dataclass
class DocumentCorpus:
    splits: dict[str, list[Document]]
    categories: list[str]
    duplicates_removed: int

    def stats(self) -> dict[str, float]:
        """Sizes, duplicates removed and how much of the human summaries the oracle labels account for."""
        documents = [d for split in self.splits.values() for d in split]
        total = sum(d.summary_sentences for d in documents)
        matched = sum(d.matched_summary_sentences for d in documents)
        return {
            **{f"data.size.{name}": len(split) for name, split in self.splits.items()},
            "data.duplicates_removed": self.duplicates_removed,
            "data.summary_sentences": total,
            "data.summary_sentences_matched": matched,
            "data.summary_sentences_matched_pct": 100.0 * matched / max(1, total),
            "data.oracle_sentences": sum(sum(d.labels) for d in documents),
        }

    def split_ids(self) -> dict[str, list[str]]:
        return {name: [d.id for d in split] for name, split in self.splits.items()}


def _source_file(config: DocumentDataConfig) -> Path:
    """The corpus file: ``documents.jsonl`` of the own data at ``data.path``, else ``<dataset>.jsonl.gz``."""
    if config.path:
        path = data_file(config.folder(), OWN_FILE)
        if path is None:
            raise UserError(f"data.path: {config.folder()} has no {OWN_FILE} (docs/data.md gives the format)")
        return path
    path = config.folder() / f"{config.dataset}.jsonl.gz"
    if not path.is_file():
        raise UserError(f"document corpus not found: {path} (set data.root or $ATTNOPS_DATA_DIR)")
    return path


def _cache_file(source: Path) -> Path:
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{PREPARATION_VERSION}".encode())
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "attnops")
    return root / f"{source.stem}-{key.hexdigest()[:16]}.json.gz"


def _prepare(source: Path) -> tuple[list[Document], int]:
    """Read, drop exact duplicates (same title and article), split sentences and label them."""
    rows = [record for _, record in read_jsonl(source)]
    seen: set[tuple[str, str]] = set()
    documents = []
    for row in tqdm(rows, desc="sentences", unit="doc", disable=None):
        key = (row["title"], row["article"])
        if key in seen:
            continue
        seen.add(key)
        sentences = split_sentences(row["article"])
        oracle = oracle_labels(sentences, row["summary"])
        documents.append(
            Document(
                row["id"],
                row["category"],
                row["title"],
                sentences,
                row["summary"],
                oracle.labels,
                oracle.summary_sentences,
                oracle.matched_summary_sentences,
            )  # fmt: skip
        )
    return documents, len(rows) - len(documents)


def _load_prepared(source: Path) -> tuple[list[Document], int]:
    cache = _cache_file(source)
    if cache.is_file():
        with gzip.open(cache, "rt", encoding="utf-8") as handle:
            stored = json.load(handle)
        return [Document(**d) for d in stored["documents"]], stored["duplicates_removed"]
    documents, duplicates = _prepare(source)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial")
    with gzip.open(partial, "wt", encoding="utf-8") as handle:
        json.dump({"documents": [asdict(d) for d in documents], "duplicates_removed": duplicates}, handle)
    partial.replace(cache)  # atomic: a crash never leaves a half-written cache
    return documents, duplicates


def load_documents(config: DocumentDataConfig) -> DocumentCorpus:
    """The corpus with a fixed, stratified train/val/test split (``config.split_seed``)."""
    documents, duplicates = _load_prepared(_source_file(config))
    documents = [d for d in documents if d.sentences]
    if config.include_title:
        documents = [replace(d, sentences=[d.title, *d.sentences], labels=[0, *d.labels]) for d in documents]
    categories = sorted({d.category for d in documents})
    labels = [d.category for d in documents]
    rest, test = train_test_split(
        documents, test_size=config.test_fraction, stratify=labels, random_state=config.split_seed
    )
    val_share = config.val_fraction / (1.0 - config.test_fraction)
    train, val = train_test_split(
        rest, test_size=val_share, stratify=[d.category for d in rest], random_state=config.split_seed
    )
    if config.max_train_examples is not None:
        train = train[: config.max_train_examples]
    return DocumentCorpus({"train": train, "val": val, "test": test}, categories, duplicates)

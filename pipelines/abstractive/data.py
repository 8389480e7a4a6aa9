"""The summarization corpora: AESLC (email -> subject line) and SciTLDR-A (abstract -> TLDR)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines.abstractive.config import SummaryDataConfig
from attnops.pipelines.data.location import DATA_DIR_ENV
from attnops.pipelines.data.records import split_records
from attnops.pipelines.errors import UserError

SPLITS = ("train", "val", "test")
_FILES = {"train": "train", "val": "dev", "test": "test"}


@dataclass
class SummarySplit:
    """Documents with their sentences, the original summary, and every reference (original first)."""

    documents: list[str]
    sentences: list[list[str]]
    summaries: list[str]
    references: list[list[str]]

    def __len__(self) -> int:
        return len(self.documents)

    def head(self, n: int | None) -> SummarySplit:
        if n is None:
            return self
        return SummarySplit(self.documents[:n], self.sentences[:n], self.summaries[:n], self.references[:n])


def _aeslc(record: dict) -> tuple[list[str], list[str]]:
    lines = [line.strip() for line in record["email"].split("\n") if line.strip()]
    return lines, [record["subject"], *record.get("annotations", [])]


def _scitldr(record: dict) -> tuple[list[str], list[str]]:
    return [s.strip() for s in record["source"] if s.strip()], list(record["target"])


def _own(record: dict) -> tuple[list[str], list[str]]:
    lines = [line.strip() for line in record["document"].split("\n") if line.strip()]
    return lines, [record["summary"], *record.get("references", [])]


READERS: dict[str, Callable[[dict], tuple[list[str], list[str]]]] = {"aeslc": _aeslc, "scitldr": _scitldr}
"""Per dataset: a JSON record -> (document sentences, references with the original first)."""


def _read(path: Path, reader: Callable[[dict], tuple[list[str], list[str]]]) -> SummarySplit:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return _split([json.loads(line) for line in lines], reader)


def _split(records: list[dict], reader: Callable[[dict], tuple[list[str], list[str]]]) -> SummarySplit:
    documents, sentences, summaries, references = [], [], [], []
    for record in records:
        doc_sentences, refs = reader(record)
        if not doc_sentences or not refs or not refs[0].strip():
            continue
        documents.append(" ".join(doc_sentences))
        sentences.append(doc_sentences)
        summaries.append(refs[0])
        references.append(refs)
    return SummarySplit(documents, sentences, summaries, references)


def load_corpus(config: SummaryDataConfig) -> dict[str, SummarySplit]:
    """Every split of ``config.dataset`` (or of the own data at ``config.path``), cut to the configured sizes."""
    folder = config.folder()
    if config.path:
        own = {split: _split(split_records(folder, split, ("document", "summary")), _own) for split in SPLITS}
        return _limited(own, config)
    missing = [f"{folder}/{_FILES[s]}.jsonl.gz" for s in SPLITS if not (folder / f"{_FILES[s]}.jsonl.gz").is_file()]
    if missing:
        raise UserError(
            f"data.dataset={config.dataset!r}: missing {', '.join(missing)} (set data.root or ${DATA_DIR_ENV})"
        )
    reader = READERS[config.dataset]
    return _limited({split: _read(folder / f"{_FILES[split]}.jsonl.gz", reader) for split in SPLITS}, config)


def _limited(corpus: dict[str, SummarySplit], config: SummaryDataConfig) -> dict[str, SummarySplit]:
    corpus["train"] = corpus["train"].head(config.max_train_examples)
    corpus["val"] = corpus["val"].head(config.max_val_examples)
    corpus["test"] = corpus["test"].head(config.max_test_examples)
    return corpus

"""A user's own data: one documented JSON Lines format per task (docs/data.md), read from any folder.

Each record is one JSON object on one line; a file may be gzipped (``.jsonl.gz``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines.errors import UserError


@dataclass(frozen=True)
class RecordFormat:
    """The files of a task's own-data folder and the fields of their records."""

    files: tuple[str, ...]
    """File names in the folder (each also read as ``NAME.gz``); a per-split file is named after its split."""
    key: str
    """The input field: duplicates and train/test overlap are records with the same input."""
    texts: tuple[str, ...]
    """Fields that must hold text (a list field: every item)."""
    split_field: str | None = None
    """The field naming each record's split, for formats with one file (else the file name is the split)."""
    long: tuple[str, str] | None = None
    """(field, config key): records whose field has more words than that setting are cut or dropped in training."""
    named_files: str | None = None
    """A subfolder holding the file each record's ``key`` names (photos)."""


_PER_SPLIT = ("train.jsonl", "val.jsonl", "test.jsonl")
_DOCUMENTS = RecordFormat(("documents.jsonl",), key="article", texts=("category", "article", "summary"))

FORMATS: dict[str, RecordFormat] = {
    "translation": RecordFormat(_PER_SPLIT, "source", ("source", "target"), long=("source", "data.max_tokens")),
    "abstractive": RecordFormat(
        _PER_SPLIT, "document", ("document", "summary"), long=("document", "data.max_source_words")
    ),
    "classification": _DOCUMENTS,
    "summarization": _DOCUMENTS,
    "captioning": RecordFormat(
        ("captions.jsonl",),
        "image",
        ("captions",),
        split_field="split",
        long=("captions", "train.max_decode_length"),
        named_files="images",
    ),
}
"""Every task's own-data format, by task name (docs/data.md shows a record of each)."""


def data_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, else ``folder/name.gz``, else None."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) of each non-blank line.

    Raises:
        UserError: a line that is not a JSON object, named by file and line.
    """
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise UserError(f"{path}:{number}: a record must be a JSON object")
            yield number, record


def split_records(folder: Path, split: str, fields: tuple[str, ...]) -> list[dict]:
    """The records of ``folder/SPLIT.jsonl`` with ``fields`` present.

    Raises:
        UserError: a missing file, or a record without one of ``fields`` (named by file and line).
    """
    path = data_file(folder, f"{split}.jsonl")
    if path is None:
        raise UserError(f"data.path: {folder} has no {split}.jsonl (docs/data.md gives the format)")
    records = []
    for number, record in read_jsonl(path):
        missing = [name for name in fields if name not in record]
        if missing:
            raise UserError(f"{path}:{number}: no {', '.join(missing)} field")
        records.append(record)
    return records

"""``attnops data check``: a user's own data, validated before any training, every bad record named by file:line."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attnops.pipelines.data.records import FORMATS, RecordFormat, data_file, read_jsonl
from attnops.pipelines.errors import UserError

if TYPE_CHECKING:
    from attnops.pipelines.config import ExperimentConfig

LISTED = 20
"""Bad records listed per kind of problem (the count says how many more)."""
PERCENTILES = (50, 90, 99, 100)


@dataclass
class DataCheck:
    """What ``check_data`` found: records and lengths (words) per split and field, and the bad records."""

    folder: Path
    records: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    words: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Kind (blank, duplicate, overlap, malformed, missing file) → ``file:line: what``."""
    long: list[str] = field(default_factory=list)
    """Over-long records: not errors, but training cuts or drops them."""

    def lines(self) -> list[str]:
        out = [f"{self.folder}: {sum(self.records.values())} records"]
        for split, count in self.records.items():
            lengths = [
                f"{name} words p50/p90/p99/max {'/'.join(str(int(v)) for v in np.percentile(sizes, PERCENTILES))}"
                for (part, name), sizes in self.words.items()
                if part == split and sizes
            ]
            out.append(f"  {split}: {count} records; {'; '.join(lengths)}")
        for kind, found in [*self.problems.items(), ("over-long (cut or dropped in training)", self.long)]:
            if found:
                out.append(f"{kind}: {len(found)}")
                out += [f"  {line}" for line in found[:LISTED]]
                out += [f"  … and {len(found) - LISTED} more"] if len(found) > LISTED else []
        return out


def _texts(value: Any) -> list[str] | None:
    """The text(s) of a field: a string, or a list of strings; None for anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    return None


def _setting(config: ExperimentConfig, dotted: str) -> int:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return int(value)


def _records(folder: Path, form: RecordFormat) -> list[tuple[str, str, dict]]:
    """(split, ``file:line``, record) of every record in the folder."""
    found = []
    for name in form.files:
        path = data_file(folder, name)
        if path is None:
            raise UserError(f"{folder} has no {name} (docs/data.md gives the format of a task's own data)")
        split = name.removesuffix(".jsonl")
        for number, record in read_jsonl(path):
            found.append((str(record.get(form.split_field, "?")) if form.split_field else split,
                          f"{path}:{number}", record))  # fmt: skip
    return found


def check_data(config: ExperimentConfig) -> DataCheck:
    """Check the own data at ``config.data.path`` in its task's format
    (:data:`attnops.pipelines.data.records.FORMATS`)."""
    if config.data.path is None:
        raise UserError(
            "data check reads a user's own data (data.path in the config); "
            f"check a catalogue data set with 'attnops data verify {config.data.dataset}'"
        )
    form = FORMATS[config.task]
    folder = config.data.folder()
    if not folder.is_dir():
        raise UserError(f"data.path: no folder {folder}")
    check = DataCheck(folder)
    limit = _setting(config, form.long[1]) if form.long else None
    first_seen: dict[tuple[str, str], str] = {}
    train_keys: dict[str, str] = {}
    records = _records(folder, form)
    for split, where, record in records:
        if split == "train" and isinstance(record.get(form.key), str):
            train_keys.setdefault(" ".join(record[form.key].split()), where)
    for split, where, record in records:
        check.records[split] += 1
        bad = [name for name in (form.key, *form.texts) if _texts(record.get(name)) is None]
        if bad:
            check.problems["malformed"].append(f"{where}: {', '.join(bad)} missing or not text")
            continue
        blank = [name for name in form.texts if not all(t.strip() for t in _texts(record[name]))]
        if blank:
            check.problems["blank"].append(f"{where}: blank {', '.join(blank)}")
        for name in form.texts:
            check.words[split, name] += [len(t.split()) for t in _texts(record[name])]
        if form.long and limit is not None and max(len(t.split()) for t in _texts(record[form.long[0]])) > limit:
            check.long.append(f"{where}: {form.long[0]} longer than {form.long[1]}={limit} words")
        key = " ".join(record[form.key].split())
        if form.named_files and not (folder / form.named_files / key).is_file():
            check.problems["missing file"].append(f"{where}: no {form.named_files}/{key}")
        if (split, key) in first_seen:
            check.problems["duplicate"].append(f"{where}: same {form.key} as {first_seen[split, key]}")
        else:
            first_seen[split, key] = where
        if split != "train" and key in train_keys:
            check.problems["train/test overlap"].append(f"{where}: {form.key} also in train at {train_keys[key]}")
    return check

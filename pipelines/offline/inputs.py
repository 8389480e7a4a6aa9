"""A predict job's input: JSONL, CSV or Parquet files, or a folder of files, read and checked before any work."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from attnops.pipelines.errors import UserError
from attnops.pipelines.task import InputSpec

ID = "id"
"""The column that names each row in the output (the input's own, else the row's number in the job)."""


def _read_jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)  # an empty cell stays an empty string


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_jsonl,
    ".csv": _read_csv,
    ".parquet": pd.read_parquet,
}
"""File readers by suffix."""


@dataclass
class Inputs:
    """Every input row, in order: ``id`` and the task's input column."""

    frame: pd.DataFrame
    digest: str
    """SHA-256 over the input files' names and bytes: a resumed job must read the same input."""


def read_inputs(paths: list[Path], spec: InputSpec, task: str) -> Inputs:
    """Read ``paths`` (files, or folders of files with one input each); :class:`UserError` naming the bad one."""
    digest = hashlib.sha256()
    frames = [_read_one(path, spec, task, digest) for path in paths]
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise UserError(f"no input rows in {', '.join(map(str, paths))}")
    numbers = pd.Series(range(len(frame))).astype(str)
    frame[ID] = frame[ID].where(frame[ID].notna(), numbers) if ID in frame else numbers
    frame[ID] = frame[ID].astype(str)
    return Inputs(frame[[ID, spec.column]], digest.hexdigest())


def _read_one(path: Path, spec: InputSpec, task: str, digest: Any) -> pd.DataFrame:
    if path.is_dir():
        return _read_folder(path, spec, digest)
    if not path.is_file():
        raise UserError(f"input not found: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UserError(f"{path}: unknown input format {path.suffix!r}; use {', '.join(READERS)} or a folder")
    digest.update(path.name.encode())
    digest.update(path.read_bytes())
    try:
        frame = reader(path)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: cannot read it as {path.suffix.lstrip('.')}: {str(exc).splitlines()[0]}") from exc
    if spec.column not in frame.columns:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise UserError(f"{path}: no {spec.column!r} column, which a {task} model reads (columns: {found})")
    return frame[[c for c in (ID, spec.column) if c in frame.columns]]


def _read_folder(folder: Path, spec: InputSpec, digest: Any) -> pd.DataFrame:
    """One row per file (hidden files skipped), named by its path inside ``folder``."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    values = []
    for path in files:
        data = path.read_bytes()
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(data)
        values.append(base64.b64encode(data).decode() if spec.binary else data.decode("utf-8", errors="replace"))
    return pd.DataFrame({ID: [str(p.relative_to(folder)) for p in files], spec.column: values})

"""A predict job's output folder: one part file per finished block, what the job is, and the merged result.

A block's part is written to a temporary name and renamed, so a part either holds every row of its block or
does not exist: a resumed job redoes exactly the blocks without a part, and no row is written twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from attnops.pipelines.errors import UserError
from attnops.pipelines.offline.rows import ERROR, ROW

JOB = "job.json"
PARTS = "parts"
FORMATS = ("parquet", "jsonl")


@dataclass(frozen=True)
class JobRecord:
    """What a job reads and writes; a resumed job must match it."""

    model: str
    model_version: str | None
    precision: str
    input_digest: str
    rows: int
    block_rows: int
    run_id: str | None = None


class OutputFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts = folder / PARTS

    def open(self, job: JobRecord) -> JobRecord:
        """Start ``job`` here, or resume the same job; :class:`UserError` if the folder holds another."""
        path = self.folder / JOB
        if path.is_file():
            found = JobRecord(**json.loads(path.read_text()))
            different = [
                key for key in ("model", "model_version", "precision", "input_digest", "rows", "block_rows")
                if getattr(found, key) != getattr(job, key)
            ]  # fmt: skip
            if different:
                raise UserError(
                    f"{self.folder} holds a job with another {', '.join(different)}; "
                    "give a new output folder (or remove this one) to start over"
                )
            return found
        if self.folder.exists() and any(self.folder.iterdir()):
            raise UserError(f"{self.folder} is not empty and holds no predict job; give a new output folder")
        self.parts.mkdir(parents=True, exist_ok=True)
        self.save(job)
        return job

    def save(self, job: JobRecord) -> None:
        _replace(self.folder / JOB, json.dumps(asdict(job), indent=2).encode())

    def done(self, block: int) -> bool:
        return self._part(block).is_file()

    def write_part(self, block: int, frame: pd.DataFrame) -> None:
        tmp = self.parts / f".{self._part(block).name}.tmp"  # hidden: never read as a part
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, self._part(block))

    def merge(self, blocks: int, fmt: str) -> tuple[Path, int]:
        """Every part, in row order, as ``predictions.<fmt>``; its path and its number of error rows."""
        frame = pd.concat([pd.read_parquet(self._part(b)) for b in range(blocks)], ignore_index=True)
        assert frame[ROW].is_monotonic_increasing and frame[ROW].is_unique  # one row per input, in order
        out = self.folder / f"predictions.{fmt}"
        tmp = out.with_suffix(".tmp")
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        os.replace(tmp, out)
        return out, int(frame[ERROR].notna().sum())

    def _part(self, block: int) -> Path:
        return self.parts / f"part-{block:06d}.parquet"


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

"""One block of input rows through a task's ``predict_frame``: batches by length, an error row per bad row."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from attnops.pipelines.batching import length_batches
from attnops.pipelines.offline.inputs import ID
from attnops.pipelines.task import Task

log = logging.getLogger(__name__)

ROW = "row"
"""The row's number in the job (its place in the output)."""
ERROR = "error"
"""Why a row has no prediction (null where it has one)."""


@dataclass(frozen=True)
class Batching:
    """How a block is cut into model batches."""

    max_rows: int = 32
    max_tokens: int | None = 1024
    """Budget of rows × longest row (words) per batch; None: rows only."""
    by_length: bool = True
    """Group rows of similar length (False: first come, first served, in input order)."""
    max_row_bytes: int = 1_000_000
    """A longer row (UTF-8 text, or a file's base64) gets an error row instead of a prediction."""


def row_length(value: Any) -> int:
    """Length used to group rows: words of a text (a base64 file counts as one word)."""
    return len(str(value).split())


def predict_block(task: Task, bundle: Any, backend: Any, block: pd.DataFrame, batching: Batching) -> pd.DataFrame:
    """Predictions for ``block`` (columns ``row``, ``id``, the task's input), one output row per input row, in
    the block's order: ``row``, ``id``, the task's output columns and ``error``."""
    values = block[task.input.column].tolist()
    errors: list[str | None] = [_check(value, batching.max_row_bytes) for value in values]
    outputs: list[dict[str, Any] | None] = [None] * len(values)
    good = [i for i, error in enumerate(errors) if error is None]
    lengths = [row_length(values[i]) for i in good]
    for batch in length_batches(lengths, batching.max_rows, batching.max_tokens, batching.by_length):
        rows = [good[j] for j in batch]
        for i, output, error in _predict(task, bundle, backend, [values[i] for i in rows], rows):
            outputs[i], errors[i] = output, error
    frame = pd.DataFrame([output or {} for output in outputs], index=range(len(values)))
    frame.insert(0, ID, block[ID].tolist())
    frame.insert(0, ROW, block[ROW].tolist())
    frame[ERROR] = errors
    return frame


def _check(value: Any, max_bytes: int) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or not str(value).strip():
        return "empty input"
    size = len(str(value).encode())
    return f"input of {size} bytes is over the limit of {max_bytes}" if size > max_bytes else None


def _predict(
    task: Task, bundle: Any, backend: Any, values: list[Any], rows: list[int]
) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    """``(row, output, error)`` for each value: the batch at once, or one by one where the batch fails."""
    if len(values) > 1:
        try:
            frame = task.predict_frame(bundle, backend, pd.DataFrame({task.input.column: values}))
            return [(row, record, None) for row, record in zip(rows, frame.to_dict("records"), strict=True)]
        except Exception:  # noqa: BLE001 -- some row broke the batch: find it, keep the others
            log.info("a batch of %d rows failed; predicting them one by one", len(values))
    return [(row, *_predict_one(task, bundle, backend, value)) for row, value in zip(rows, values, strict=True)]


def _predict_one(task: Task, bundle: Any, backend: Any, value: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        frame = task.predict_frame(bundle, backend, pd.DataFrame({task.input.column: [value]}))
    except Exception as exc:  # noqa: BLE001 -- any failure of one row becomes that row's error
        first = str(exc).splitlines()[0] if str(exc) else ""
        return None, f"{type(exc).__name__}: {first}"
    return frame.to_dict("records")[0], None

"""The drift reference of a run: the :mod:`~attnops.pipelines.monitor.features` of its validation split, decoded by
its ONNX export exactly as the service decodes, kept with the run as ``monitoring/reference.parquet``."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.bundle import Bundle
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.monitor.features import translation_signals
from attnops.pipelines.translation.translate import translate

REFERENCE_FOLDER = "monitoring"
REFERENCE_FILE = "reference.parquet"
REFERENCE_SPLIT = "val"
CHUNK = 64
MONITORED_TASKS = ("translation",)


@dataclass(frozen=True)
class ReferenceResult:
    run_id: str
    sentences: int
    artifact: str


def check_monitored(task: str) -> None:
    if task not in MONITORED_TASKS:
        raise UserError(f"drift reports cover {', '.join(MONITORED_TASKS)} models; this is a {task} model")


def reference_frame(bundle: Bundle, sources: list[str]) -> pd.DataFrame:
    """One row of signals per sentence of ``sources``, decoded with the bundle's own runtime and search."""
    settings = search_settings(bundle.config, bundle.codec)
    backend = bundle.backend()
    rows = []
    for start in tqdm(range(0, len(sources), CHUNK), desc="reference", unit="batch", disable=None):
        for out in translate(backend, bundle.codec, sources[start : start + CHUNK], settings, batch_size=CHUNK):
            rows.append(translation_signals(out, settings).as_dict())
    return pd.DataFrame(rows)


def log_reference(run_id: str) -> ReferenceResult:
    """Compute the run's reference on its whole validation split and log it to the run."""
    from attnops.pipelines.inference.resolve import resolve
    from attnops.pipelines.translation.data import load_corpus

    bundle = resolve(f"runs:/{run_id}").bundle
    check_monitored(bundle.config.task)
    whole = bundle.config.data.model_copy(update={"max_eval_examples": None})  # training may have scored a part
    sources = load_corpus(whole)[REFERENCE_SPLIT].sources
    frame = reference_frame(bundle, sources)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / REFERENCE_FILE
        frame.to_parquet(path, index=False)
        with tracking.resume_run(run_id):
            tracking.log_artifact(path, REFERENCE_FOLDER)
    return ReferenceResult(run_id, len(frame), f"{REFERENCE_FOLDER}/{REFERENCE_FILE}")


def load_reference(run_id: str) -> pd.DataFrame:
    """The reference logged with ``run_id``; :class:`UserError` naming the command that makes it otherwise."""
    try:
        path = tracking.download(run_id, f"{REFERENCE_FOLDER}/{REFERENCE_FILE}")
    except UserError:
        raise UserError(f"run {run_id} has no drift reference; compute it with 'attnops reference {run_id}'") from None
    return pd.read_parquet(path)

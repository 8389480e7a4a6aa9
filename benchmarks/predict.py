"""``attnops bench predict``: ``attnops predict`` against the same model in-process, and length-aware
against first-come batches, each round measuring all three on the same input in one process."""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from attnops.pipelines.inference.resolve import resolve
from attnops.pipelines.offline.inputs import read_inputs
from attnops.pipelines.offline.job import PredictJob, run_job, start_ray
from attnops.pipelines.offline.rows import Batching
from attnops.pipelines.tasks import task_named

SYSTEMS = {
    "in-process": "predict_frame on consecutive batches in one process (no Ray)",
    "predict (by length)": "attnops predict, one actor, batches by length: whole job",
    "predict (by length), steady": "the same job after its first block (actor start and model load left out)",
    "predict (first come)": "attnops predict, one actor, batches in input order: whole job",
    "predict (first come), steady": "the same job after its first block",
}


@dataclass
class PredictBench:
    rows: int
    precision: str
    rates: dict[str, list[float]]
    """Rows per second of each system, one figure per round."""


def bench_predict(
    model: str, source: Path, rounds: int, threads: int, batch_rows: int, block_rows: int
) -> PredictBench:
    bundle = resolve(model).bundle
    task = task_named(bundle.config.task)
    frame = read_inputs([source], task.input, task.name).frame
    column = task.input.column
    precision = bundle.config.runtime.precision
    torch.set_num_threads(threads)
    backend = bundle.backend(bundle.config.runtime.model_copy(update={"intra_op_threads": threads}))
    start_ray()
    rates: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    with tempfile.TemporaryDirectory(prefix="attnops-bench-predict-") as scratch:
        for r in range(rounds):
            start = time.perf_counter()
            for i in range(0, len(frame), batch_rows):
                task.predict_frame(bundle, backend, pd.DataFrame({column: frame[column].iloc[i : i + batch_rows]}))
            rates["in-process"].append(len(frame) / (time.perf_counter() - start))
            for name, by_length in (("predict (by length)", True), ("predict (first come)", False)):
                batching = Batching(max_rows=batch_rows, by_length=by_length)
                folder = Path(scratch) / f"{r}-{by_length}"
                job = PredictJob(model, [source], folder, threads=threads, block_rows=block_rows, batching=batching)
                result = run_job(job)
                rates[name].append(result.rows_per_s)
                rates[f"{name}, steady"].append(result.steady_rows_per_s or float("nan"))
    return PredictBench(len(frame), precision, rates)


def format_report(bench: PredictBench) -> str:
    lines = [f"{bench.rows} rows, {bench.precision}, {len(bench.rates['in-process'])} rounds: rows/s mean (min-max)"]
    for name, rates in bench.rates.items():
        lines.append(f"  {name:29s} {statistics.mean(rates):6.1f} ({min(rates):.1f}-{max(rates):.1f})  {SYSTEMS[name]}")
    for name, (a, b) in {
        "predict (by length) / in-process": ("predict (by length)", "in-process"),
        "predict (by length), steady / in-process": ("predict (by length), steady", "in-process"),
        "by length / first come, steady": ("predict (by length), steady", "predict (first come), steady"),
    }.items():
        ratios = [x / y for x, y in zip(bench.rates[a], bench.rates[b], strict=True)]
        lines.append(f"  {name}: {statistics.mean(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    return "\n".join(lines)

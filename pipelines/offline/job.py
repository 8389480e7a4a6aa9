"""``attnops predict``: input files through an export on Ray Data, resumable, each job an MLflow run."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.resolve import resolve
from attnops.pipelines.offline.inputs import read_inputs
from attnops.pipelines.offline.output import FORMATS, JobRecord, OutputFolder
from attnops.pipelines.offline.rows import ROW, Batching
from attnops.pipelines.offline.worker import NODE, BlockPredictor
from attnops.pipelines.ray_cluster import init_ray
from attnops.pipelines.tasks import task_named

log = logging.getLogger(__name__)

EXPERIMENT = "attnops-predict"
ACTORS_START_S = 600
"""How long the actor pool may take to start (a cluster may add nodes first) before the job fails."""
RAY_DATA_LOGGING = Path(__file__).with_name("ray_data_logging.yaml")
"""Ray Data's logging: its INFO lines to its log file only, so a job prints what it did and no more."""
NODE_ID_CHARS = 12
"""Leading characters of a Ray node id that name it in metrics and output (Ray prints the same prefix)."""


@dataclass
class PredictJob:
    model: str
    inputs: list[Path]
    output: Path
    format: str = "parquet"
    precision: str | None = None
    """Graphs to run (None: the export's config)."""
    actors: int = 1
    threads: int = 1
    """CPU threads of each actor (and the CPUs Ray reserves for it)."""
    block_rows: int = 1000
    """Rows per block: the unit of work an actor takes and of resume."""
    batching: Batching = field(default_factory=Batching)


@dataclass
class PredictResult:
    path: Path
    run_id: str
    rows: int
    errors: int
    predicted: int
    """Rows predicted by this call (the others were done by an earlier, interrupted call)."""
    seconds: float
    """Wall time of this call's blocks, from Ray Data's start (actors loading the model included)."""
    finished: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since the start, rows) of each block, as it finished."""
    nodes: dict[str, int] = field(default_factory=dict)
    """Rows predicted by this call on each Ray node, by node id."""

    @property
    def rows_per_s(self) -> float:
        return self.predicted / self.seconds if self.seconds else 0.0

    @property
    def steady_rows_per_s(self) -> float | None:
        """Rows per second after the first block (model loading and warm-up left out); None under two blocks."""
        if len(self.finished) < 2:
            return None
        (first, _), (last, _) = self.finished[0], self.finished[-1]
        return sum(rows for _, rows in self.finished[1:]) / (last - first) if last > first else None


def run_job(job: PredictJob) -> PredictResult:
    """Predict every input row of ``job``; an interrupted job given again redoes only its unfinished blocks."""
    if job.format not in FORMATS:
        raise UserError(f"output format {job.format!r}: use one of {', '.join(FORMATS)}")
    resolved = resolve(job.model)
    bundle = resolved.bundle
    task = task_named(bundle.config.task)
    precision = job.precision or bundle.config.runtime.precision
    if precision not in bundle.manifest.precisions:
        raise UserError(f"{job.model} has no {precision} graphs (has: {', '.join(bundle.manifest.precisions)})")
    inputs = read_inputs(job.inputs, task.input, task.name)
    frame = inputs.frame
    frame.insert(0, ROW, range(len(frame)))
    blocks = -(-len(frame) // job.block_rows)
    folder = OutputFolder(job.output)
    record = folder.open(JobRecord(job.model, resolved.version, precision, inputs.digest, len(frame), job.block_rows))
    todo = [b for b in range(blocks) if not folder.done(b)]
    tags = {"task": task.name, "model": job.model}
    with tracking.start_run(EXPERIMENT, f"predict-{task.name}", False, tags, resume=record.run_id) as run_id:
        if record.run_id is None:
            folder.save(replace(record, run_id=run_id))
            tracking.log_params(
                {
                    "model": job.model,
                    "model_name": resolved.name,
                    "model_version": resolved.version,
                    "task": task.name,
                    "precision": precision,
                    "input_digest": inputs.digest,
                    "inputs": ", ".join(map(str, job.inputs)),
                    "output": str(job.output),
                    "rows": len(frame),
                    "block_rows": job.block_rows,
                    "actors": job.actors,
                    "threads": job.threads,
                    "max_batch_rows": job.batching.max_rows,
                    "max_batch_tokens": job.batching.max_tokens,
                    "by_length": job.batching.by_length,
                }  # fmt: skip
            )
        log.info("%d rows in %d blocks, %d to do (%s)", len(frame), blocks, len(todo), job.output)
        start = time.perf_counter()
        # every actor loads the version the driver resolved, even if an alias moves during the job
        pinned = f"models:/{resolved.name}/{resolved.version}" if resolved.version else job.model
        finished, nodes = _run_blocks(job, pinned, precision, frame, todo, folder, start) if todo else ([], {})
        seconds = time.perf_counter() - start
        predicted = sum(rows for _, rows in finished)
        path, errors = folder.merge(blocks, job.format)
        result = PredictResult(path, run_id, len(frame), errors, predicted, seconds, finished, nodes)
        rates = {"rows_per_s": result.rows_per_s}
        if result.steady_rows_per_s is not None:
            rates["steady_rows_per_s"] = result.steady_rows_per_s
        per_node = {f"rows_on_node_{node[:NODE_ID_CHARS]}": rows for node, rows in nodes.items()}
        tracking.log_metrics(
            {"rows": len(frame), "error_rows": errors, "predicted_rows": predicted, "seconds": seconds, **rates,
             "nodes": len(nodes), **per_node}
        )  # fmt: skip
    return result


def start_ray() -> None:
    """Ray for a predict job, unless this process has one: the cluster ``$RAY_ADDRESS`` names, else a private
    local one (never another cluster of this machine)."""
    import ray

    if not ray.is_initialized():
        init_ray(include_dashboard=False, configure_logging=False, log_to_driver=False)


def _run_blocks(
    job: PredictJob,
    model: str,
    precision: str,
    frame: pd.DataFrame,
    todo: list[int],
    folder: OutputFolder,
    start: float,
) -> tuple[list[tuple[float, int]], dict[str, int]]:
    """Predict the blocks ``todo`` on Ray Data, writing each one's part as soon as all its rows are back;
    (seconds since ``start``, rows) of each block as it finished, and the rows predicted on each node."""
    os.environ.setdefault("RAY_DATA_LOGGING_CONFIG", str(RAY_DATA_LOGGING))  # read when ray.data is imported
    import ray

    start_ray()
    # every actor loads the model before the first block is handed out, so all of them take blocks
    ray.data.DataContext.get_current().wait_for_min_actors_s = ACTORS_START_S
    size = job.block_rows
    parts = [frame.iloc[b * size : (b + 1) * size] for b in todo]
    expected = {b: len(part) for b, part in zip(todo, parts, strict=True)}
    dataset = ray.data.from_pandas(parts).map_batches(
        BlockPredictor,
        fn_constructor_kwargs={
            "model": model,
            "precision": precision,
            "threads": job.threads,
            "batching": job.batching,
        },  # fmt: skip
        batch_size=size,  # one block per call (every block but the last has this many rows)
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=job.actors),
        num_cpus=job.threads,
        runtime_env={"env_vars": _worker_env()},
    )
    waiting: dict[int, list[pd.DataFrame]] = {}
    finished = []
    nodes: Counter[str] = Counter()
    for batch in _batches(dataset, job):
        nodes.update(batch.pop(NODE))
        for block, rows in batch.groupby(batch[ROW] // size, sort=False):
            waiting.setdefault(int(block), []).append(rows)
            if sum(map(len, waiting[int(block)])) == expected[int(block)]:
                folder.write_part(int(block), pd.concat(waiting.pop(int(block))).sort_values(ROW))
                finished.append((time.perf_counter() - start, expected[int(block)]))
    assert not waiting, f"blocks {sorted(waiting)} came back incomplete"
    return finished, dict(nodes)


def _batches(dataset: Any, job: PredictJob) -> Iterator[pd.DataFrame]:
    """The dataset's output batches; a pool that does not start in time is a :class:`UserError`."""
    from ray.exceptions import GetTimeoutError

    try:
        yield from dataset.iter_batches(batch_size=None, batch_format="pandas")
    except GetTimeoutError as exc:
        raise UserError(
            f"{job.actors} actors of {job.threads} CPUs did not start within {ACTORS_START_S} s: "
            "the cluster lacks the CPUs, or its nodes cannot load the model (see Ray's logs)"
        ) from exc


def _worker_env() -> dict[str, str]:
    """What an actor needs to fetch the model: the tracking store (a relative SQLite path made absolute)."""
    uri = tracking.tracking_uri()
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str(Path(uri.removeprefix(prefix)).resolve())
    env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.update({k: v for k, v in os.environ.items() if k.startswith(("MLFLOW_TRACKING_", "ATTNOPS_"))})
    env["MLFLOW_TRACKING_URI"] = uri
    return env

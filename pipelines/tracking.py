"""Everything that talks to MLflow: runs, params, metrics, artifacts."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnops.pipelines.errors import UserError
from attnops.pipelines.redact import redact

if TYPE_CHECKING:
    from mlflow.entities import Run

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""Embedded default: a SQLite store in the working directory (artifacts go to ./mlruns)."""


def tracking_uri() -> str:
    """The tracking URI in effect: ``$MLFLOW_TRACKING_URI``, else the embedded default."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _mlflow():
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    # Set on every call: mlflow keeps a process-wide URI that would otherwise shadow a changed env.
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if redact(uri) != uri:  # its "View run at" lines would print the URI's password
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    return mlflow


_logged: dict[str, set[int]] = {}
"""Steps of each metric the active run already holds when it was reopened to continue training."""
_sending: list[Any] = []
"""Metric batches of the active run handed to MLflow's background sender (``RunOperations``), not yet confirmed."""
_journal: list[Path] = []
"""Where the active run's metrics are also appended (at most one file), so a run whose server never came back
can send them when it is resumed."""


@contextlib.contextmanager
def start_run(
    experiment: str,
    run_name: str | None,
    system_metrics: bool,
    tags: dict[str, str] | None = None,
    resume: str | None = None,
) -> Iterator[str]:
    """Open a new run, or reopen ``resume`` to continue it, and yield its id.

    The run is RUNNING while the block runs, then FINISHED, FAILED if it raises, or KILLED if it is
    interrupted (Ctrl-C). In a reopened run a metric is never logged twice at the same step.
    """
    mlflow = _mlflow()
    if resume is None:
        mlflow.set_experiment(experiment)
        opened = mlflow.start_run(run_name=run_name, log_system_metrics=system_metrics, tags=tags)
    else:
        check_run(resume)
        opened = mlflow.start_run(run_id=resume, log_system_metrics=False)  # its step counter would restart
        _logged.update(_metric_steps(resume))
        mlflow.set_tags(tags or {})
    try:
        with opened as run:
            try:
                yield run.info.run_id
                confirm_metrics()
            except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM (Lightning raises a SystemExit)
                mlflow.end_run("KILLED")
                raise
    finally:
        _logged.clear()
        _sending.clear()
        _journal.clear()


def keep_journal(path: Path) -> None:
    """Append every metric of the active run to ``path`` from now on, after sending the ones an earlier process
    wrote there that the run lacks (batches its server never got)."""
    if path.exists():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            missing = {k: v for k, v in entry["metrics"].items() if entry["step"] not in _logged.get(k, ())}
            if missing:
                _mlflow().log_metrics(missing, step=entry["step"], timestamp=entry["timestamp"])
            for key in missing:
                _logged.setdefault(key, set()).add(entry["step"])
    _journal[:] = [path]


def confirm_metrics() -> None:
    """Wait until every metric batch sent in the background has reached the tracking server (MLflow retries
    each for minutes); raise if one could not be sent."""
    while _sending:
        _sending.pop(0).wait()


def _metric_steps(run_id: str) -> dict[str, set[int]]:
    found = client().get_run(run_id).data.metrics
    return {key: {m.step for m in client().get_metric_history(run_id, key)} for key in found}


@contextlib.contextmanager
def resume_run(run_id: str) -> Iterator[str]:
    """Reopen an existing run to add results to it."""
    mlflow = _mlflow()
    # The run's own experiment: one this process set before (another run's, in-process) would refuse it.
    mlflow.set_experiment(experiment_id=check_run(run_id).info.experiment_id)
    try:
        with mlflow.start_run(run_id=run_id) as run:
            yield run.info.run_id
            confirm_metrics()
    finally:
        _sending.clear()


def unreachable(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, is a failure to connect to the tracking server."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.ConnectionError):
            return True
        # MLflow's background sender reports its failures as text only.
        if "Max retries exceeded" in str(seen) and "NewConnectionError" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unreachable_message(exc: BaseException) -> str:
    return f"the tracking server at {redact(tracking_uri())} is unreachable"


def check_run(run_id: str) -> Run:
    """The run ``run_id`` names; :class:`UserError` unless it is a run of the tracking server."""
    mlflow = _mlflow()
    try:
        return mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        if unreachable(exc):
            raise UserError(unreachable_message(exc)) from exc
        raise UserError(f"unknown run id {run_id!r} at {redact(mlflow.get_tracking_uri())}") from exc


def artifact_location(run_id: str, artifact_path: str) -> str:
    """Where an artifact of a run lives: a local path for a local store, else its URI."""
    uri = f"{_mlflow().get_run(run_id).info.artifact_uri}/{artifact_path}"
    return uri.removeprefix("file://")


def log_params(params: dict[str, Any]) -> None:
    _mlflow().log_params({key: "None" if value is None else value for key, value in params.items()})


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Hand ``metrics`` to MLflow's background sender: a tracking server that is down for a while does not stop
    training, and the batches reach it when it is back (:func:`confirm_metrics` waits for them)."""
    fresh = {key: value for key, value in metrics.items() if (step or 0) not in _logged.get(key, ())}
    if not fresh:
        return
    timestamp = int(time.time() * 1000)
    for journal in _journal:
        with journal.open("a") as out:
            out.write(json.dumps({"step": step or 0, "timestamp": timestamp, "metrics": fresh}) + "\n")
    _sending.append(_mlflow().log_metrics(fresh, step=step, timestamp=timestamp, synchronous=False))


def log_artifact(path: Path, artifact_path: str | None = None) -> None:
    """Log a file, or a folder's contents, under ``artifact_path``."""
    mlflow = _mlflow()
    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path)
    else:
        mlflow.log_artifact(str(path), artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    _mlflow().log_text(text, artifact_file)


def download(run_id: str, artifact_path: str, destination: Path | None = None) -> Path:
    """Download one artifact (file or folder) of a run; :class:`UserError` if it is missing."""
    mlflow = _mlflow()
    check_run(run_id)
    destination = destination or Path(tempfile.mkdtemp(prefix="attnops-"))
    try:
        return Path(
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(destination))
        )
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise UserError(f"run {run_id} has no artifact {artifact_path!r}") from exc


def download_uri(uri: str, destination: Path | None = None) -> Path:
    """Download anything an artifact or model URI names (``runs:/``, ``models:/``); UserError if it does not resolve."""
    mlflow = _mlflow()
    destination = destination or Path(tempfile.mkdtemp(prefix="attnops-"))
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination)))
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        where = redact(mlflow.get_tracking_uri())
        raise UserError(f"model URI {uri!r} does not resolve at {where}: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def run_tags(run_id: str) -> dict[str, str]:
    check_run(run_id)
    return dict(_mlflow().get_run(run_id).data.tags)


def set_tags(tags: dict[str, str]) -> None:
    """Tag the active run."""
    _mlflow().set_tags(tags)


def client():
    """An ``MlflowClient`` for the configured tracking (and registry) URI."""
    return _mlflow().MlflowClient()


def log_pyfunc_model(
    name: str,
    python_model: Path,
    artifacts: dict[str, Path],
    input_example: Any,
    output_example: Any,
    params: dict[str, Any],
    pip_requirements: list[str],
) -> str:
    """Log a pyfunc model (``python_model``: a models-from-code file) with a signature and an input example
    to the active run; return its URI."""
    mlflow = _mlflow()
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=str(python_model),
        artifacts={key: str(path) for key, path in artifacts.items()},
        signature=mlflow.models.infer_signature(input_example, output_example, params),
        input_example=input_example,
        pip_requirements=pip_requirements,
    )
    return info.model_uri


def create_model_version(name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> Any:
    """A new version of registered model ``name`` from a logged model (``models:/<model_id>``)."""
    model_id = model_uri.removeprefix("models:/")
    return client().create_model_version(name, source=model_uri, run_id=run_id, tags=tags, model_id=model_id)


def search_runs(experiment: str | None) -> list[Any]:
    """Runs of ``experiment`` (default: every experiment), newest first."""
    mlflow = _mlflow()
    if experiment is not None:
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            raise UserError(f"unknown experiment {experiment!r} at {redact(mlflow.get_tracking_uri())}")
        ids = [found.experiment_id]
    else:
        ids = [e.experiment_id for e in client().search_experiments()]
    return list(client().search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1000))


def set_status(run_id: str, status: str, tags: dict[str, str]) -> None:
    """Close ``run_id`` with ``status`` (FINISHED, FAILED, KILLED) and add ``tags``."""
    for key, value in tags.items():
        client().set_tag(run_id, key, value)
    client().set_terminated(run_id, status)


def log_dataset(name: str, source: str, digest: str, splits: dict[str, int]) -> None:
    """Record a data set the active run trains on as an MLflow dataset input, its split sizes as input tags."""
    mlflow = _mlflow()
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # a file:// URI matches two registered local source types; either will do
        warnings.simplefilter("ignore", UserWarning)
        resolved = resolve_dataset_source(source)
    dataset = MetaDataset(resolved, name=name, digest=digest)
    tags = {f"rows.{split}": str(n) for split, n in splits.items()}
    try:
        mlflow.log_input(dataset, context="training", tags=tags)
    except mlflow.exceptions.MlflowException as exc:
        # Runs logging the same new data set at once (a study's trials on a cluster): the SQL store inserts it
        # for each and one insert hits its unique key. It exists now, so logging again only links it to this run.
        if "dataset_pk" not in str(exc):
            raise
        mlflow.log_input(dataset, context="training", tags=tags)


def run_datasets(run_id: str) -> list[str]:
    """``NAME@DIGEST`` of each data set a run logged as input (none for a run that is gone)."""
    mlflow = _mlflow()
    try:
        inputs = client().get_run(run_id).inputs.dataset_inputs
    except mlflow.exceptions.MlflowException:
        return []
    return [f"{i.dataset.name}@{i.dataset.digest}" for i in inputs]

"""A study's parent run: start or resume it, run the missing trials on Ray, then write its table and plots.

Every trial is a Ray task reserving ``cpus_per_trial`` CPUs (default: a whole node), so a cluster runs as
many at once as it has nodes and one machine runs them one after another. Each task runs in a fresh
worker process (``max_calls=1``): one trial's threads and memory never carry into the next.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.ray_cluster import init_ray
from attnops.pipelines.resume import INTERRUPTED_TAG, OWNER_TAG, owner, owner_gone
from attnops.pipelines.study.report import StudyReport, build_report
from attnops.pipelines.study.spec import SPEC_ARTIFACT, StudySpec, Trial
from attnops.pipelines.study.trial import DONE_TAG, PARENT_TAG, TRIAL_TAG, run_trial
from attnops.pipelines.tasks import task_named

log = logging.getLogger(__name__)

STUDY_TAG = "attnops.study"
"""Set on a study's parent run."""
WORKER_ENV = ("MLFLOW_TRACKING_URI", "ATTNOPS_HOME", "ATTNOPS_DATA_DIR", "HF_HOME", "HF_DATASETS_OFFLINE",
              "MLFLOW_DISABLE_TELEMETRY")  # fmt: skip
"""Environment a trial's worker needs from the driver (a cluster's workers do not inherit it)."""


@dataclass
class StudyResult:
    parent_id: str
    report: StudyReport
    skipped: list[str]
    """Trials a resumed study found finished."""
    failures: dict[str, str]
    """Trial key → why it failed."""
    seconds: float
    """Wall time of this invocation."""


def start_study(spec: StudySpec, out: Path, progress: Callable[[str], None]) -> StudyResult:
    """Create the parent run of ``spec`` and run every trial."""
    if _find_parent(spec.experiment, spec.name) is not None:
        raise UserError(f"a study named {spec.name!r} exists in {spec.experiment!r}: resume it with --resume "
                        f"{spec.name}, or choose another --name")  # fmt: skip
    with tracking.start_run(spec.experiment, spec.name, False, {STUDY_TAG: "parent", OWNER_TAG: owner()}) as parent:
        tracking.log_text(spec.model_dump_json(indent=2), SPEC_ARTIFACT)
        tracking.log_params({"study.configs": ",".join(c.label for c in spec.configs),
                             "study.seeds": ",".join(map(str, spec.seeds)), "study.budget": spec.budget.describe(),
                             "study.threshold": spec.threshold})  # fmt: skip
        return _run(spec, parent, out, progress)


def resume_study(
    name_or_id: str, experiment: str, out: Path | None, progress: Callable[[str], None], run_trials: bool = True
) -> StudyResult:
    """Continue the study whose parent run is ``name_or_id`` (a run id, or a study name in ``experiment``).

    Without ``run_trials``: only write the table and plots of the trials finished so far (the parent run, which
    may still be running, is left alone)."""
    parent = _find_parent(experiment, name_or_id) or name_or_id
    tracking.check_run(parent)
    spec = StudySpec.model_validate_json(tracking.download(parent, SPEC_ARTIFACT).read_text())
    out = out or default_output(spec.name)
    if not run_trials:
        started = time.perf_counter()
        headline = task_named(spec.task).headline
        report = build_report(spec, headline, _children(spec.experiment, parent), {}, out)
        progress(f"study {spec.name} (parent run {parent}): {len(report.children)} finished trials")
        return StudyResult(parent, report, [], {}, time.perf_counter() - started)
    with tracking.start_run(spec.experiment, None, False, {OWNER_TAG: owner()}, resume=parent):
        return _run(spec, parent, out, progress)


def default_output(name: str) -> Path:
    return Path("docs") / "study" / name


def _run(spec: StudySpec, parent: str, out: Path, progress: Callable[[str], None]) -> StudyResult:
    """Run the trials of ``spec`` without a finished child, then write and log the table (``parent`` is active)."""
    started = time.perf_counter()
    headline = task_named(spec.task).headline
    done = _finished_trials(spec.experiment, parent)
    failures: dict[str, str] = {}
    with _ray() as cpus:
        trials = spec.trials(headline.overrides, spec.cpus_per_trial or cpus)
        todo = [t for t in trials if t.key not in done]
        progress(f"study {spec.name} (parent run {parent}): {len(trials)} trials, {len(done)} finished before, "
                 f"{len(todo)} to run, {spec.cpus_per_trial or cpus} CPUs each")  # fmt: skip
        for key, run_id, error in _dispatch(todo, parent, spec, spec.cpus_per_trial or cpus):
            if error is None:
                progress(f"  {key}: finished, child run {run_id}")
            else:
                failures[key] = error
                progress(f"  {key}: FAILED: {error}")
    report = build_report(spec, headline, _children(spec.experiment, parent), failures, out)
    tracking.log_artifact(out, "study")
    tracking.set_tags({f"{STUDY_TAG}.failed": str(len(failures))})
    return StudyResult(parent, report, sorted(done), failures, time.perf_counter() - started)


def _dispatch(todo: list[Trial], parent: str, spec: StudySpec, cpus: int):
    """Yield ``(trial key, child run id, None)``, or ``(trial key, None, why it failed)``, as trials end."""
    import ray

    env = {name: _absolute(name, os.environ[name]) for name in WORKER_ENV if name in os.environ}
    env["MLFLOW_TRACKING_URI"] = _absolute("MLFLOW_TRACKING_URI", tracking.tracking_uri())
    remote = ray.remote(max_calls=1)(run_trial)
    pending = {
        remote.options(num_cpus=cpus, max_retries=0, runtime_env={"env_vars": env},
                       name=f"study:{trial.key}").remote(trial, parent, spec.decode_sentences, cpus): trial.key
        for trial in todo
    }  # fmt: skip
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        key = pending.pop(ready[0])
        try:
            yield key, ray.get(ready[0]), None
        except ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc  # the trial's own exception, without Ray's traceback
            yield key, None, f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0]}"


def _absolute(name: str, value: str) -> str:
    """A relative SQLite URI or path made absolute: a worker's working directory is not the driver's."""
    if name == "MLFLOW_TRACKING_URI":
        prefix = "sqlite:///"
        if value.startswith(prefix) and not value.removeprefix(prefix).startswith("/"):
            return prefix + str(Path(value.removeprefix(prefix)).resolve())
        return value
    return str(Path(value).resolve()) if name in ("ATTNOPS_HOME", "ATTNOPS_DATA_DIR", "HF_HOME") else value


class _ray:
    """Ray for the study's trials: ``$RAY_ADDRESS``'s cluster, else a private local instance (shut down after).
    Yields the CPUs of the largest node: what a trial reserves by default."""

    def __enter__(self) -> int:
        import ray

        self.started = not ray.is_initialized()
        if self.started:
            init_ray(include_dashboard=False, log_to_driver=False)
        return int(max(node["Resources"].get("CPU", 1) for node in ray.nodes() if node["Alive"]))

    def __exit__(self, *exc: object) -> None:
        import ray

        if self.started:
            ray.shutdown()


def _find_parent(experiment: str, name_or_id: str) -> str | None:
    """The parent run named ``name_or_id`` in ``experiment`` (newest), if there is one."""
    found = tracking.client().get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = tracking.client().search_runs(
        [found.experiment_id],
        f"tags.{STUDY_TAG} = 'parent' and attributes.run_name = '{name_or_id}'",
        order_by=["attributes.start_time DESC"],
    )
    return runs[0].info.run_id if runs else None


def _children(experiment: str, parent: str) -> list:
    found = tracking.client().get_experiment_by_name(experiment)
    return list(tracking.client().search_runs([found.experiment_id], f"tags.{PARENT_TAG} = '{parent}'",
                                              max_results=1000))  # fmt: skip


def _finished_trials(experiment: str, parent: str) -> set[str]:
    """Keys of trials with a finished child; a child whose worker died is marked KILLED on the way."""
    finished = set()
    for run in _children(experiment, parent):
        tags = run.data.tags
        if run.info.status == "RUNNING" and owner_gone(tags.get(OWNER_TAG)):
            tracking.set_status(run.info.run_id, "KILLED", {INTERRUPTED_TAG: "true"})
        elif run.info.status == "FINISHED" and tags.get(DONE_TAG) == "true":
            finished.add(tags[TRIAL_TAG])
    return finished

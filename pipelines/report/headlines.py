"""Headline runs as the store holds them: figures, baseline and provenance of each, grouped by setting."""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines import tracking
from attnops.pipelines.config import REPO_ROOT, ExperimentConfig, load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import CONFIG_ARTIFACT
from attnops.pipelines.provenance import COMMIT_TAG, CONFIG_TAG, HEADLINE_TAG, MACHINE_TAG
from attnops.pipelines.tasks import task_named

SEED_KEY = "train.seed"
"""The one setting that may differ between the runs of one headline (they are its seeds)."""
SPEED_KEYS = frozenset({"train.num_threads"})
"""Settings that change how fast a run trains, not what it learns: never counted as overrides."""


@dataclass(frozen=True)
class HeadlineRun:
    """One run tagged as a headline."""

    run_id: str
    task: str
    config: str
    """The config file it was given, relative to the repository root when shipped with it."""
    shipped: bool
    """True when that file is in this checkout (so ``overrides`` compares with it)."""
    overrides: tuple[str, ...]
    """``key=value`` of every resolved setting (but the seed and thread count) that differs from the shipped file."""
    seed: int
    figures: tuple[float | None, ...]
    """The task's headline metrics, in order (None: the run lacks it)."""
    baseline: tuple[float | None, ...]
    config_digest: str
    """SHA-256 (12 digits) of the resolved config the run logged."""
    data: tuple[str, ...]
    """``NAME@DIGEST`` of each data set it trained on."""
    commit: str
    machine: str
    date: str


@dataclass(frozen=True)
class Headline:
    """The runs of one setting (config and overrides), one per seed."""

    task: str
    config: str
    shipped: bool
    overrides: tuple[str, ...]
    runs: tuple[HeadlineRun, ...]

    @property
    def config_file(self) -> str:
        return Path(self.config).name


def headline_runs() -> list[HeadlineRun]:
    """Every finished run of the store tagged as a headline, oldest first (one still training has no figures)."""
    client = tracking.client()
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(
        experiments,
        filter_string=f"tags.`{HEADLINE_TAG}` = 'true' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
    )
    return [_headline_run(run) for run in found]


def _headline_run(run) -> HeadlineRun:
    run_id, tags, metrics = run.info.run_id, run.data.tags, run.data.metrics
    config_path = tracking.download(run_id, CONFIG_ARTIFACT)
    config = load_config(config_path)
    name = tags.get(CONFIG_TAG) or _source_config_name(run_id)
    shipped = (REPO_ROOT / name).is_file() if name else False
    headline = task_named(config.task).headline
    return HeadlineRun(
        run_id=run_id,
        task=config.task,
        config=name or "(no config file)",
        shipped=shipped,
        overrides=_overrides(config, load_config(REPO_ROOT / name)) if shipped else (),
        seed=config.train.seed,
        figures=tuple(metrics.get(m) for m in headline.shown),
        baseline=tuple(metrics.get(m) for m in headline.baseline_metrics),
        config_digest=hashlib.sha256(config_path.read_bytes()).hexdigest()[:12],
        data=tuple(tracking.run_datasets(run_id)),
        commit=tags.get(COMMIT_TAG) or tags.get("mlflow.source.git.commit", "")[:12] or "unknown",
        machine=tags.get(MACHINE_TAG, "unknown"),
        date=time.strftime("%Y-%m-%d", time.gmtime(run.info.start_time / 1000)),
    )


def _source_config_name(run_id: str) -> str:
    """For a run trained before runs recorded their config file: the file it logged, found among the shipped
    configs by name ('' when it logged none)."""
    logged = tracking.client().list_artifacts(run_id, "source_config")
    if not logged:
        return ""
    name = Path(logged[0].path).name
    shipped = sorted((REPO_ROOT / "pipelines" / "configs").rglob(name))
    return str(shipped[0].relative_to(REPO_ROOT)) if shipped else name


def _overrides(ran: ExperimentConfig, shipped: ExperimentConfig) -> tuple[str, ...]:
    want, got = shipped.flat(), ran.flat()
    ignored = SPEED_KEYS | {SEED_KEY}
    differ = [key for key in sorted(set(want) | set(got)) if key not in ignored and want.get(key) != got.get(key)]
    return tuple(f"{key}={got.get(key)}" for key in differ)


def group(runs: list[HeadlineRun]) -> list[Headline]:
    """One headline per (task, config, overrides), in the order of their first run."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[HeadlineRun]] = {}
    for run in runs:
        groups.setdefault((run.task, run.config, run.overrides), []).append(run)
    return [Headline(task, config, members[0].shipped, overrides, tuple(members))
            for (task, config, overrides), members in groups.items()]  # fmt: skip


def spread(values: list[float | None]) -> str:
    """``mean ± sample std`` over seeds (the value alone for one run, ``—`` when a run lacks it); three decimals
    for figures below 1.5 (e.g. CIDEr), two otherwise."""
    if not values or any(v is None for v in values):
        return "—"
    digits = 3 if max(abs(v) for v in values) < 1.5 else 2
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def tag_headline(run_id: str) -> None:
    """Tag ``run_id`` as a headline; :class:`UserError` for an unknown run or one that did not finish."""
    tracking.check_run(run_id)
    status = tracking.client().get_run(run_id).info.status
    if status != "FINISHED":
        raise UserError(f"run {run_id} is {status}: only a finished run can be a headline")
    tracking.client().set_tag(run_id, HEADLINE_TAG, "true")

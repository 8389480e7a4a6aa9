"""Evaluate stage, for every task: re-score a run's best checkpoint and log the figures to that run."""

from __future__ import annotations

from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.decoding import CONFIG_SEARCH, SearchOverride
from attnops.pipelines.runs import load_run_config
from attnops.pipelines.task import Report
from attnops.pipelines.tasks import all_tasks, task_for


def known_splits() -> tuple[str, ...]:
    """Every split some task evaluates on."""
    return tuple(dict.fromkeys(split for task in all_tasks().values() for split in task.splits))


def evaluate_run(run_id: str, split: str | None = None, search: SearchOverride = CONFIG_SEARCH) -> Report:
    """Evaluate ``run_id`` on ``split`` (default: the task's test splits), optionally with other search settings."""
    if split is not None and split not in known_splits():  # before any download
        raise UserError(f"unknown split {split!r}; choose one of: {', '.join(known_splits())}")
    config = load_run_config(run_id)
    search.check()
    return task_for(config).evaluate_run(run_id, config, split, search)

"""The registry of tasks, keyed by the ``task`` of an experiment config (like ``attnops.models.attention.SCORERS``)."""

from __future__ import annotations

from attnops.pipelines.abstractive.task import ABSTRACTIVE
from attnops.pipelines.captioning.task import CAPTIONING
from attnops.pipelines.config import ExperimentConfig
from attnops.pipelines.documents.task import CLASSIFICATION, SUMMARIZATION
from attnops.pipelines.errors import UserError
from attnops.pipelines.task import Task
from attnops.pipelines.translation.task import TRANSLATION

TASKS: dict[str, Task] = {
    task.name: task for task in (TRANSLATION, CLASSIFICATION, SUMMARIZATION, CAPTIONING, ABSTRACTIVE)
}
"""Every task, by the name its configs give as ``task``."""


def task_named(name: str) -> Task:
    """The registered task ``name``; :class:`UserError` naming the known ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"task: unknown task {name!r}; known: {', '.join(TASKS)}") from None


def task_for(config: ExperimentConfig) -> Task:
    return task_named(config.task)

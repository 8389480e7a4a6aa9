"""The registry of tasks, keyed by the ``task`` of an experiment config (like ``attnops.models.attention.SCORERS``).

One line per task names the object that describes it (:class:`~attnops.pipelines.task.Task`): its config, its
inference runtime, its lifecycle, its commands and how it is served. The entries are named, not imported, so that
the modules a task builds on (the config, the inference runtime) can look a task up without an import loop; a
task's package is imported when the task is first looked up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnops.pipelines.errors import UserError
from attnops.pipelines.task import Lazy, Task

if TYPE_CHECKING:
    from attnops.pipelines.config import ExperimentConfig

TASKS: dict[str, Lazy] = {
    "translation": Lazy("attnops.pipelines.translation.task:TRANSLATION"),
    "classification": Lazy("attnops.pipelines.documents.task:CLASSIFICATION"),
    "summarization": Lazy("attnops.pipelines.documents.task:SUMMARIZATION"),
    "captioning": Lazy("attnops.pipelines.captioning.task:CAPTIONING"),
    "abstractive": Lazy("attnops.pipelines.abstractive.task:ABSTRACTIVE"),
}
"""Every task, by the name its configs give as ``task``, in the order commands and routes are listed."""


def task_named(name: str) -> Task:
    """The registered task ``name``; :class:`UserError` naming the known ones otherwise."""
    try:
        entry = TASKS[name]
    except KeyError:
        raise UserError(f"task: unknown task {name!r}; known: {', '.join(TASKS)}") from None
    task = entry.load()
    assert task.name == name, f"the registry's {name!r} names the task {task.name!r}"
    return task


def task_for(config: ExperimentConfig) -> Task:
    return task_named(config.task)


def all_tasks() -> dict[str, Task]:
    """Every registered task, loaded, in registry order."""
    return {name: task_named(name) for name in TASKS}

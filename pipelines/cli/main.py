"""The ``attnops`` command line: one entry point; each command group lives in its own module.

The lifecycle commands (:mod:`attnops.cli.lifecycle`) work for every task; each registered task adds its
own commands (``translate``, ``classify``, ``summarize``, ``caption``) through its registry entry's
``commands``. Command modules import their work when a command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from attnops.cli import bench, data, lifecycle, monitor, predict, report, rollout, serve, stack, study
from attnops.pipelines.errors import UserError
from attnops.pipelines.redact import redact, redact_logs, redact_uncaught
from attnops.pipelines.tasks import all_tasks

BEFORE_TASKS = (lifecycle.add_commands, data.add_commands, study.add_commands, report.add_commands)
AFTER_TASKS = (
    predict.add_commands,
    serve.add_commands,
    rollout.add_commands,
    monitor.add_commands,
    bench.add_commands,
    stack.add_commands,
)
"""Each adds its commands to the parser; ``--help`` lists them in this order, the tasks' own between."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnops",
        description="Train, evaluate, export, register and serve attention models. Runs are logged to MLflow "
        "($MLFLOW_TRACKING_URI, default sqlite:///mlflow.db in the working directory).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    task_commands = tuple(task.commands.load() for task in all_tasks().values() if task.commands is not None)
    for add_commands in (*BEFORE_TASKS, *task_commands, *AFTER_TASKS):
        add_commands(commands)
    return parser


class _WarningsAndAbove(logging.Filter):
    """Lets through only warnings and errors of a library that sets its own loggers to INFO on import."""

    def __init__(self, *names: str) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith(self.names)


def _quiet_libraries() -> None:
    """Keep library narration out of what a person reads: Lightning's accelerator lines and product tips,
    and a deprecation inside Lightning's own code that its users cannot act on."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WarningsAndAbove("pytorch_lightning", "lightning"))
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # its INFO lines narrate internals
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # attnops prints the run id itself
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("attnops.pipelines").setLevel(logging.INFO)
    _quiet_libraries()
    redact_logs()
    redact_uncaught()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"attnops: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

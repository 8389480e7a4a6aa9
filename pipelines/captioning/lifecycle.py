"""Captioning's lifecycle members (see :class:`pipelines.task.LazyLifecycle`)."""

from __future__ import annotations

from pipelines.captioning.export import caption_figures as export_figures
from pipelines.captioning.export import example_input, load_trained
from pipelines.captioning.export import parity_check as check_parity
from pipelines.captioning.export import write_graphs as export_graphs
from pipelines.captioning.model import evaluate_caption_run as evaluate_run
from pipelines.captioning.train import evaluate_trained, prepare_training
from pipelines.captioning.train import load_caption_data as load_data

__all__ = [
    "check_parity",
    "evaluate_run",
    "evaluate_trained",
    "example_input",
    "export_figures",
    "export_graphs",
    "load_data",
    "load_trained",
    "prepare_training",
]

"""Translation's lifecycle members (see :class:`pipelines.task.LazyLifecycle`)."""

from __future__ import annotations

from pipelines.translation.config import TranslationConfig
from pipelines.translation.data import ParallelSplit, load_corpus
from pipelines.translation.evaluate import evaluate_run
from pipelines.translation.export import example_input, load_trained
from pipelines.translation.export import parity_check as check_parity
from pipelines.translation.export import quantized_figures as export_figures
from pipelines.translation.export import write_graphs as export_graphs
from pipelines.translation.train import evaluate_trained, prepare_training

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


def load_data(config: TranslationConfig) -> dict[str, ParallelSplit]:
    return load_corpus(config.data)

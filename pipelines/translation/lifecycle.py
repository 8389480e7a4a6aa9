"""Translation's lifecycle members (see :class:`attnops.pipelines.task.LazyLifecycle`)."""

from __future__ import annotations

from attnops.pipelines.translation import export
from attnops.pipelines.translation.config import TranslationConfig
from attnops.pipelines.translation.data import ParallelSplit, load_corpus
from attnops.pipelines.translation.evaluate import evaluate_run as evaluate_run
from attnops.pipelines.translation.train import evaluate_trained as evaluate_trained
from attnops.pipelines.translation.train import prepare_training as prepare_training

load_trained = export.load_trained
export_graphs = export.write_graphs
check_parity = export.parity_check
export_figures = export.quantized_figures
example_input = export.example_input


def load_data(config: TranslationConfig) -> dict[str, ParallelSplit]:
    return load_corpus(config.data)

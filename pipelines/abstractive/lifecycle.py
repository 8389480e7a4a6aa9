"""Abstractive summarization's lifecycle members (see :class:`attnops.pipelines.task.LazyLifecycle`)."""

from __future__ import annotations

from attnops.pipelines.abstractive import export
from attnops.pipelines.abstractive.config import AbstractiveConfig
from attnops.pipelines.abstractive.data import SummarySplit, load_corpus
from attnops.pipelines.abstractive.evaluate import evaluate_run as evaluate_run
from attnops.pipelines.abstractive.train import evaluate_trained as evaluate_trained
from attnops.pipelines.abstractive.train import prepare_training as prepare_training

load_trained = export.load_trained
export_graphs = export.write_graphs
check_parity = export.parity_check
export_figures = export.quantized_figures
example_input = export.example_input


def load_data(config: AbstractiveConfig) -> dict[str, SummarySplit]:
    return load_corpus(config.data)

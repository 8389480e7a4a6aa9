"""The document tasks' lifecycle members (see :class:`pipelines.task.LazyLifecycle`)."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import RuntimeConfig
from pipelines.documents.config import DocumentConfig
from pipelines.documents.data import DocumentCorpus, load_documents
from pipelines.documents.evaluate import DocumentEvaluation, evaluate_document_run
from pipelines.documents.export import TrainedDocumentModel, example_input, load_trained
from pipelines.documents.export import parity_check as check_parity
from pipelines.documents.export import write_graph as export_graphs
from pipelines.documents.train import evaluate_trained, prepare_training
from pipelines.task import Graphs

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


def load_data(config: DocumentConfig) -> DocumentCorpus:
    return load_documents(config.data)


def evaluate_run(run_id: str, config: DocumentConfig, split: str | None, beam_size: int | None) -> DocumentEvaluation:
    """Documents have no search: ``beam_size`` does not apply."""
    return evaluate_document_run(run_id, config, split)


def export_figures(
    trained: TrainedDocumentModel, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
) -> tuple[tuple[str, ...], dict[str, float]]:
    """The parity check says it all: fp32 graphs, no further figures."""
    return ("fp32",), {}

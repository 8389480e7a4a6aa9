"""The document tasks' lifecycle members (see :class:`attnops.pipelines.task.LazyLifecycle`)."""

from __future__ import annotations

from pathlib import Path

from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.documents import export
from attnops.pipelines.documents.config import DocumentConfig
from attnops.pipelines.documents.data import DocumentCorpus, load_documents
from attnops.pipelines.documents.evaluate import DocumentEvaluation, evaluate_document_run
from attnops.pipelines.documents.export import TrainedDocumentModel
from attnops.pipelines.documents.train import evaluate_trained as evaluate_trained
from attnops.pipelines.documents.train import prepare_training as prepare_training
from attnops.pipelines.inference.decoding import SearchOverride
from attnops.pipelines.task import Graphs

load_trained = export.load_trained
export_graphs = export.write_graph
check_parity = export.parity_check
example_input = export.example_input


def load_data(config: DocumentConfig) -> DocumentCorpus:
    return load_documents(config.data)


def evaluate_run(run_id: str, config: DocumentConfig, split: str | None, search: SearchOverride) -> DocumentEvaluation:
    """Documents have no search: ``search`` does not apply."""
    return evaluate_document_run(run_id, config, split)


def export_figures(
    trained: TrainedDocumentModel, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
) -> tuple[tuple[str, ...], dict[str, float]]:
    """The parity check says it all: fp32 graphs, no further figures."""
    return ("fp32",), {}

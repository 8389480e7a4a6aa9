"""The document tasks' registry entries: classification and extractive summarization share one package.

Module level imports only what inference needs; training, evaluation and export import their modules
when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines.config import RuntimeConfig
from pipelines.documents.codec import DocumentCodec
from pipelines.documents.config import (
    DOCUMENT_SPLITS,
    MODEL_NAMES,
    ClassificationConfig,
    DocumentConfig,
    SummarizationConfig,
)
from pipelines.documents.graph import OnnxDocumentBackend
from pipelines.documents.predict import DocumentBackend, classify, predict_documents, summarize
from pipelines.documents.sentences import split_sentences

if TYPE_CHECKING:
    from pipelines.documents.evaluate import DocumentEvaluation
    from pipelines.documents.export import TrainedDocumentModel
    from pipelines.inference.bundle import Bundle, Manifest
    from pipelines.task import Graphs, ParityCheck, Training


class DocumentTask:
    """A hierarchical attention model over documents; ``name`` says what it predicts."""

    replica = "serving.document_replica:DocumentReplica"
    splits = DOCUMENT_SPLITS
    quantizations = ()

    def __init__(self, name: str, config_type: type[DocumentConfig], deployment: str) -> None:
        self.name, self.config_type, self.deployment = name, config_type, deployment
        self.model_name = MODEL_NAMES[name]

    def load_codec(self, folder: Path) -> DocumentCodec:
        return DocumentCodec.load(folder)

    def open_backend(self, folder: Path, manifest: Manifest, runtime: RuntimeConfig) -> OnnxDocumentBackend:
        return OnnxDocumentBackend(folder, runtime)

    def predict_frame(
        self, bundle: Bundle, backend: DocumentBackend, frame: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Input: a ``text`` column of documents. Output: ``label`` and ``probability`` (classification) or
        ``summary`` (the configured number of sentences)."""
        codec, config = bundle.codec, bundle.config
        predictions = predict_documents(backend, codec.encode([split_sentences(text) for text in frame["text"]]))
        if self.name == "classification":
            results = [classify(p, codec) for p in predictions]
            return pd.DataFrame({"label": [r.label for r in results],
                                 "probability": [r.probabilities[r.label] for r in results]})  # fmt: skip
        summaries = [summarize(p, config.summary) for p in predictions]
        return pd.DataFrame({"summary": [" ".join(s.text for s in picked) for picked in summaries]})

    def pyfunc_params(self, config: DocumentConfig) -> dict[str, Any]:
        return {}

    def version_tags(self, config: DocumentConfig) -> dict[str, str]:
        return {"attention": config.model.attention}

    def load_data(self, config: DocumentConfig) -> Any:
        from pipelines.documents.data import load_documents

        return load_documents(config.data)

    def prepare_training(self, config: DocumentConfig, data: Any, work: Path) -> Training:
        from pipelines.documents.train import prepare_training

        return prepare_training(config, data, work)

    def evaluate_trained(
        self, config: DocumentConfig, data: Any, training: Training, checkpoint: Path
    ) -> DocumentEvaluation:
        from pipelines.documents.train import evaluate_trained

        return evaluate_trained(config, data, training, checkpoint)

    def evaluate_run(
        self, run_id: str, config: DocumentConfig, split: str | None, beam_size: int | None
    ) -> DocumentEvaluation:
        from pipelines.documents.evaluate import evaluate_document_run

        return evaluate_document_run(run_id, config, split)

    def load_trained(self, run_id: str, config: DocumentConfig) -> TrainedDocumentModel:
        from pipelines.documents.export import load_trained

        return load_trained(run_id, config)

    def export_graphs(self, trained: TrainedDocumentModel, folder: Path, opset: int) -> Graphs:
        from pipelines.documents.export import write_graph

        return write_graph(trained, folder, opset)

    def check_parity(
        self, trained: TrainedDocumentModel, folder: Path, graphs: Graphs, runtime: RuntimeConfig
    ) -> ParityCheck:
        from pipelines.documents.export import parity_check

        return parity_check(trained, folder, runtime)

    def export_figures(
        self, trained: TrainedDocumentModel, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
    ) -> tuple[tuple[str, ...], dict[str, float]]:
        return ("fp32",), {}

    def example_input(self, trained: TrainedDocumentModel) -> pd.DataFrame:
        from pipelines.documents.export import example_input

        return example_input(trained)


CLASSIFICATION = DocumentTask("classification", ClassificationConfig, "Classifier")
SUMMARIZATION = DocumentTask("summarization", SummarizationConfig, "Summarizer")

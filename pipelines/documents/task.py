"""The document tasks' registry entries: classification and extractive summarization share one package.

Module level imports only what inference needs; the lifecycle members come from ``lifecycle.py``, imported
when a lifecycle step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.documents.codec import DocumentCodec
from attnops.pipelines.documents.config import (
    DOCUMENT_SPLITS,
    GATE_METRICS,
    MODEL_NAMES,
    ClassificationConfig,
    DocumentConfig,
    SummarizationConfig,
)
from attnops.pipelines.documents.graph import OnnxDocumentBackend
from attnops.pipelines.documents.predict import DocumentBackend, classify, predict_documents, summarize
from attnops.pipelines.documents.sentences import split_sentences
from attnops.pipelines.task import TEXT_INPUT, Headline, Lazy, LazyLifecycle, Route, Service, Tab

if TYPE_CHECKING:
    from attnops.pipelines.inference.bundle import Bundle, Manifest


class DocumentTask(LazyLifecycle):
    """A hierarchical attention model over documents; ``name`` says what it predicts."""

    splits = DOCUMENT_SPLITS
    quantizations = ()
    input = TEXT_INPUT
    lifecycle = Lazy("attnops.pipelines.documents.lifecycle")

    def __init__(
        self,
        name: str,
        config_type: type[DocumentConfig],
        deployment: str,
        route: Route,
        tab: Tab,
        commands: Lazy,
        headline: Headline,
    ) -> None:
        self.name, self.config_type, self.commands, self.headline = name, config_type, commands, headline
        self.service = Service(deployment, Lazy("attnops.serving.document_replica:DocumentReplica"), (route,), tab)
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
        predictions = predict_documents(
            backend, codec.encode([split_sentences(text) for text in frame["text"].astype(str)])
        )
        if self.name == "classification":
            results = [classify(p, codec) for p in predictions]
            return pd.DataFrame({"label": [r.label for r in results],
                                 "probability": [r.probabilities[r.label] for r in results]})  # fmt: skip
        summaries = [summarize(p, config.summary) for p in predictions]
        return pd.DataFrame({"summary": [" ".join(s.text for s in picked) for picked in summaries]})

    def pyfunc_params(self, config: DocumentConfig) -> dict[str, Any]:
        return {}

    def version_tags(self, config: DocumentConfig) -> dict[str, str]:
        return config.model.tags()


CLASSIFICATION = DocumentTask(
    "classification", ClassificationConfig, "Classifier",
    Route(
        "/v1/classify",
        "classify",
        Lazy("attnops.serving.schemas:ClassifyRequest"),
        Lazy("attnops.serving.schemas:ClassifyResponse"),
        "The label and class probabilities of each document; word and sentence weights on request.",
    ),
    Tab("Classify"),
    Lazy("attnops.pipelines.documents.commands:add_classify"),
    Headline(
        test_metrics=(GATE_METRICS["classification"],),
        curve="val_accuracy",
        figures=("test_accuracy", "test_macro_f1"),
        figures_label="test accuracy % / macro-F1",
        baseline="TF-IDF word 1–2-grams + logistic regression",
        baseline_metrics=("test_tfidf_words_logreg_accuracy", "test_tfidf_words_logreg_macro_f1"),
    ),
)  # fmt: skip
SUMMARIZATION = DocumentTask(
    "summarization", SummarizationConfig, "Summarizer",
    Route(
        "/v1/summarize",
        "summarize",
        Lazy("attnops.serving.schemas:SummarizeRequest"),
        Lazy("attnops.serving.schemas:SummarizeResponse"),
        "``mode: extractive`` (default): the document's best sentences, in document order, with their scores.\n"
        "``mode: abstractive``: a summary written by the abstractive model, copy probabilities on request.",
    ),
    Tab("Summarize"),
    Lazy("attnops.pipelines.documents.commands:add_summarize"),
    Headline(
        test_metrics=(GATE_METRICS["summarization"],),
        curve="val_precision_at_3",
        figures=("test_rouge1", "test_rouge2", "test_rougeL"),
        figures_label="test ROUGE-1/2/L",
        baseline="TextRank",
        baseline_metrics=("test_textrank_rouge1", "test_textrank_rouge2", "test_textrank_rougeL"),
    ),
)  # fmt: skip

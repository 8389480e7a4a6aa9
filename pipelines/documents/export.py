"""What the hierarchical export adds to the shared steps: one graph, checked on fresh shapes and real documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from attnops.models.hierarchical import DocumentModel
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.documents.codec import DocumentCodec
from attnops.pipelines.documents.config import DocumentConfig
from attnops.pipelines.documents.data import load_documents
from attnops.pipelines.documents.graph import DOCUMENT_GRAPH, OnnxDocumentBackend, dummy_documents
from attnops.pipelines.documents.model import DocumentRunModel, load_document_model
from attnops.pipelines.documents.predict import DocumentBackend, classify, predict_documents, summarize
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.bundle import Parity
from attnops.pipelines.onnx_export import export_graph
from attnops.pipelines.task import Graphs, ParityCheck

FRESH_DOCUMENTS = ([[3]], [[7, 1, 9, 2], [4], [2, 2, 2, 2, 2, 2]], [[12, 12, 12]] * 5)
"""Sentence lengths of documents with shapes other than the export's dummy input (2, 3, 5)."""


@dataclass
class TrainedDocumentModel(DocumentRunModel):
    """The run's model with the documents of the parity split (each a list of sentences)."""

    parity_documents: list[list[str]]


def load_trained(run_id: str, config: DocumentConfig) -> TrainedDocumentModel:
    stored = load_document_model(run_id, config)
    split = config.export.parity_split
    corpus = load_documents(config.data)
    if split not in corpus.splits:
        raise UserError(f"export.parity_split {split!r} is not one of {', '.join(corpus.splits)}")
    documents = [d.sentences for d in corpus.splits[split]]
    return TrainedDocumentModel(stored.config, stored.codec, stored.model, documents)


class _DocumentGraph(torch.nn.Module):
    def __init__(self, model: DocumentModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, word_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.model(ids, word_mask)
        return out.scores, out.word_weights, out.sentence_weights


def export_document_graph(model: DocumentModel, folder: Path, opset: int) -> Path:
    """Write ``document.onnx`` (self-contained, fp32)."""
    model = model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = model.encoder.embedding.num_embeddings
    ids, mask = dummy_documents([[4, 2, 3], [5, 1]], vocab_size)  # (2, 3, 5): padded at both levels
    # The exporter restores the wrapper's training flag onto the model: hand it over in eval mode.
    graph = _DocumentGraph(model).eval()
    return export_graph(graph, (ids, mask), folder / DOCUMENT_GRAPH.file(), DOCUMENT_GRAPH, opset)


def write_graph(trained: TrainedDocumentModel, folder: Path, opset: int) -> Graphs:
    export_document_graph(trained.model, folder, opset)
    return Graphs()


@torch.no_grad()
def _max_differences(model: DocumentBackend, backend: DocumentBackend, vocab_size: int) -> tuple[float, float]:
    """Largest |Δscores| and |Δweights| (word and sentence) on fresh shapes."""
    worst_scores = worst_weights = 0.0
    for seed, lengths in enumerate(FRESH_DOCUMENTS):
        ids, mask = dummy_documents([list(doc) for doc in lengths], vocab_size, seed=seed + 1)
        expected, actual = model(ids, mask), backend(ids, mask)
        worst_scores = max(worst_scores, float((expected.scores - actual.scores).abs().max()))
        for name in ("word_weights", "sentence_weights"):
            gap = (getattr(expected, name) - getattr(actual, name)).abs().max()
            worst_weights = max(worst_weights, float(gap))
    return worst_scores, worst_weights


def _decisions(backend: DocumentBackend, codec: DocumentCodec, config: DocumentConfig, documents: list[list[str]]):
    """What a user sees: the label, or the selected sentences, of each document."""
    predictions = predict_documents(backend, codec.encode(documents))
    if config.task == "classification":
        return [classify(p, codec).label for p in predictions]
    return [[s.index for s in summarize(p, config.summary)] for p in predictions]


def parity_check(trained: TrainedDocumentModel, folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> ParityCheck:
    config, documents = trained.config, trained.parity_documents
    backend = OnnxDocumentBackend(folder, runtime)
    max_scores, max_weights = _max_differences(trained.model, backend, trained.codec.vocab_size)
    expected = _decisions(trained.model, trained.codec, config, documents)
    actual = _decisions(backend, trained.codec, config, documents)
    parity = Parity(
        max_abs_logits=max_scores,
        max_abs_attention=max_weights,
        tolerance=config.export.parity_tolerance,
        greedy_sentences=len(documents),
        greedy_mismatches=sum(e != a for e, a in zip(expected, actual)),
    )
    return ParityCheck(
        parity=parity,
        metrics={
            "parity_max_abs_logits": parity.max_abs_logits,
            "parity_max_abs_attention": parity.max_abs_attention,
            "parity_prediction_mismatches": float(parity.greedy_mismatches),
        },
        summary=f"max |Δscores| {parity.max_abs_logits:.3g} (tolerance {parity.tolerance:g}), "
        f"{parity.greedy_mismatches}/{parity.greedy_sentences} {config.export.parity_split} documents predicted "
        "differently",
        compared=f"predictions identical on {len(documents)}/{len(documents)} documents",
    )


def example_input(trained: TrainedDocumentModel) -> pd.DataFrame:
    return pd.DataFrame({"text": ["\n\n".join(sentences) for sentences in trained.parity_documents[:2]]})

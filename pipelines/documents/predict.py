"""Run a hierarchical model (PyTorch or ONNX Runtime) over documents; read labels and summaries off it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from attnops.models.hierarchical import DocumentOutput, pad_documents, select_sentences
from attnops.pipelines.documents.codec import DocumentCodec, EncodedDocument
from attnops.pipelines.documents.config import SummaryConfig


class DocumentBackend(Protocol):
    """``(ids (B, S, W), word_mask (B, S, W)) -> DocumentOutput``: the PyTorch model or its ONNX graph."""

    def __call__(self, ids: Tensor, word_mask: Tensor) -> DocumentOutput: ...


@dataclass
class DocumentPrediction:
    """One document's raw outputs, cut to its real sentences and words.

    Attributes:
        scores: class logits ``(C,)``, or sentence logits (one per kept sentence, then padding).
        word_weights: per kept sentence, the weight of each kept word.
        sentence_weights: weight of each kept sentence.
    """

    document: EncodedDocument
    scores: list[float]
    word_weights: list[list[float]]
    sentence_weights: list[float]


@dataclass
class Classification:
    label: str
    probabilities: dict[str, float]


@dataclass
class SelectedSentence:
    index: int
    text: str
    score: float
    """Probability that the sentence belongs in the summary."""


@torch.no_grad()
def predict_documents(
    backend: DocumentBackend, documents: list[EncodedDocument], batch_size: int = 32
) -> list[DocumentPrediction]:
    """Outputs for every document, batched by similar size; every document needs one word or more."""
    order = sorted(range(len(documents)), key=lambda i: (len(documents[i].ids), max(map(len, documents[i].ids))))
    results: dict[int, DocumentPrediction] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = pad_documents([documents[i].ids for i in chunk])
        output = backend(ids, mask)
        for row, index in enumerate(chunk):
            doc = documents[index]
            results[index] = DocumentPrediction(
                document=doc,
                scores=output.scores[row].tolist(),
                word_weights=[output.word_weights[row, j, : len(s)].tolist() for j, s in enumerate(doc.ids)],
                sentence_weights=output.sentence_weights[row, : len(doc.ids)].tolist(),
            )
    return [results[i] for i in range(len(documents))]


def classify(prediction: DocumentPrediction, codec: DocumentCodec) -> Classification:
    """The most likely label and every label's probability."""
    probabilities = torch.tensor(prediction.scores).softmax(dim=0).tolist()
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return Classification(codec.labels[best], dict(zip(codec.labels, probabilities)))


def summarize(prediction: DocumentPrediction, budget: SummaryConfig) -> list[SelectedSentence]:
    """The best sentences under the budget, in document order, with their probabilities."""
    doc = prediction.document
    probabilities = torch.tensor(prediction.scores[: len(doc.ids)]).sigmoid().tolist()
    word_counts = [len(words) for words in doc.words]
    ranks = probabilities
    if budget.rank_by == "expected_words":
        ranks = [p * n for p, n in zip(probabilities, word_counts)]
    chosen = select_sentences(ranks, budget.max_sentences, word_counts, budget.max_words)
    return [SelectedSentence(i, doc.sentences[i], probabilities[i]) for i in chosen]

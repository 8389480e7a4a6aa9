"""The document deployments: HAN classification and extractive summarization, batched over documents.

One class serves either task (``user_config.task``); the app binds it twice, as ``Classifier`` and
``Summarizer``. Documents are split into sentences in a worker thread, then the batch queue encodes
documents from concurrent requests with the batch's model and runs them through its ONNX graph together.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ray import serve

from attnops.pipelines.documents.predict import DocumentPrediction, classify, predict_documents, summarize
from attnops.pipelines.documents.sentences import SplitTooSlow, split_sentences
from attnops.serving.replica import LoadedModel, ModelReplica, RequestRejected
from attnops.serving.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    DocumentLabel,
    SentenceAttention,
    SummarizeRequest,
    SummarizeResponse,
    SummarySentence,
)
from attnops.serving.settings import DocumentSettings


@dataclass(frozen=True)
class _Result:
    prediction: DocumentPrediction
    model: LoadedModel


def _attention(prediction: DocumentPrediction) -> list[SentenceAttention]:
    doc = prediction.document
    return [
        SentenceAttention(text=text, weight=weight, words=words, word_weights=word_weights)
        for text, weight, words, word_weights in zip(
            doc.sentences, prediction.sentence_weights, doc.words, prediction.word_weights
        )
    ]


def split_documents(texts: list[str], budget_s: float, field: str) -> list[list[str]]:
    """Each document's sentences; a document whose splitting takes longer than ``budget_s`` is refused (422)."""
    documents = []
    for i, text in enumerate(texts):
        try:
            documents.append(split_sentences(text, time.monotonic() + budget_s))
        except SplitTooSlow:
            raise RequestRejected(422, f"{field}: document {i} takes longer than {budget_s} s to split") from None
    return documents


@serve.deployment(max_ongoing_requests=64, max_queued_requests=256)
class DocumentReplica(ModelReplica):
    """Serves a registered hierarchical model of the configured task."""

    settings_type = DocumentSettings
    unit = "documents"

    def _split(self, texts: list[str], field: str) -> list[list[str]]:
        """Check the request against the limits, then split each document into sentences."""
        settings: DocumentSettings = self.settings
        if len(texts) > settings.max_texts:
            raise RequestRejected(422, f"{field}: at most {settings.max_texts} documents per request")
        over = [i for i, text in enumerate(texts) if len(text.encode("utf-8")) > settings.max_document_bytes]
        if over:
            raise RequestRejected(413, f"{field}: documents {over} exceed {settings.max_document_bytes} bytes")
        return split_documents(texts, settings.split_budget_s, field)

    async def _predict(self, texts: list[str], field: str) -> list[_Result]:
        self.loaded()  # 503 before any work when no model is loaded yet
        documents = await asyncio.to_thread(self._split, texts, field)
        return await asyncio.gather(*(self.submit(sentences) for sentences in documents))

    async def classify(self, request: ClassifyRequest) -> ClassifyResponse:
        results = await self._predict(request.items(), "text" if request.text is not None else "texts")
        labels = []
        for result in results:
            predicted = classify(result.prediction, result.model.resolved.bundle.codec)
            labels.append(
                DocumentLabel(
                    label=predicted.label,
                    probabilities=predicted.probabilities,
                    truncated=result.prediction.document.truncated,
                    attention=_attention(result.prediction) if request.return_attention else None,
                )
            )
        # A request's documents may straddle a swap; the first document's model is reported.
        return ClassifyResponse(results=labels, model=results[0].model.served())

    async def summarize(self, request: SummarizeRequest) -> SummarizeResponse:
        (result,) = await self._predict([request.text], "text")
        budget = result.model.resolved.bundle.config.summary.model_copy(
            update={"max_sentences": request.max_sentences, "max_words": request.max_words}
        )
        chosen = summarize(result.prediction, budget)
        return SummarizeResponse(
            summary=" ".join(s.text for s in chosen),
            sentences=[
                SummarySentence(index=result.prediction.document.indices[s.index], text=s.text, score=s.score)
                for s in chosen
            ],
            truncated=result.prediction.document.truncated,
            attention=_attention(result.prediction) if request.return_attention else None,
            model=result.model.served(),
        )

    async def run_batch(self, documents: list[list[str]]) -> list[_Result]:
        model = self.model  # one model (and its vocabulary) for the whole batch, even if a swap lands meanwhile
        predictions = await asyncio.to_thread(_predict_batch, model, documents)
        return [_Result(p, model) for p in predictions]


def _predict_batch(model: LoadedModel, documents: list[list[str]]) -> list[DocumentPrediction]:
    """Encode with the model's own vocabulary and run the documents together (schemas refuse blank text,
    so every document has a word)."""
    encoded = model.resolved.bundle.codec.encode(documents)
    return predict_documents(model.backend, encoded, batch_size=len(encoded))

"""The abstractive summarization deployment: batched decoding of documents from concurrent requests.

The batch queue gathers documents from concurrent requests and decodes them together through the shared
search (:func:`attnops.pipelines.abstractive.summarize.summarize`), grouped by their search settings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from ray import serve

from attnops.pipelines.abstractive.codec import words
from attnops.pipelines.abstractive.settings import summary_settings
from attnops.pipelines.abstractive.summarize import Summary, summarize
from attnops.pipelines.monitor.features import attention_signals, mean_log_prob
from attnops.serving.replica import LoadedModel, ModelReplica, RequestRejected, observed
from attnops.serving.schemas import Attention, ConfidenceScores, SummarizeRequest, SummarizeResponse, SummaryWord
from attnops.serving.settings import AbstractiveSettings


@dataclass(frozen=True)
class _Document:
    text: str
    beam_size: int | None
    max_length: int | None


@dataclass(frozen=True)
class _Decoded:
    summary: Summary
    model: LoadedModel
    scores: ConfidenceScores


@serve.deployment(max_ongoing_requests=64, max_queued_requests=256)
class AbstractiveReplica(ModelReplica):
    """Serves a registered pointer-generator (``user_config.model_uri``)."""

    settings_type = AbstractiveSettings
    unit = "documents"

    @observed
    async def summarize(self, request: SummarizeRequest) -> SummarizeResponse:
        self.loaded()  # 503 before any work when no model is loaded yet
        limit = self.settings.max_document_bytes
        if len(request.text.encode("utf-8")) > limit:
            raise RequestRejected(413, f"text: the document exceeds max_document_bytes={limit} bytes")
        decoded = await self.submit(_Document(request.text, request.beam_size, request.max_length))
        summary, model = decoded.summary, decoded.model
        max_words = model.resolved.bundle.config.data.max_source_words
        detail = request.return_attention
        return SummarizeResponse(
            summary=summary.text,
            mode="abstractive",
            sentences=[],
            truncated=len(words(request.text)) > max_words,
            words=_words(summary) if detail else None,
            alignment=Attention(
                source_tokens=summary.source_words,
                target_tokens=summary.words + ["</s>"] * (summary.attention.shape[0] - len(summary.words)),
                weights=summary.attention.tolist(),
            )
            if detail
            else None,
            scores=decoded.scores if request.return_scores else None,
            model=model.served(),
        )

    async def run_batch(self, documents: list[_Document]) -> list[_Decoded]:
        model = self.model  # one model for the whole batch, even if a swap lands meanwhile
        return await asyncio.to_thread(_decode, model, documents)


def _words(summary: Summary) -> list[SummaryWord]:
    return [
        SummaryWord(word=word, copy_probability=float(copy), copied=copied)
        for word, copy, copied in zip(summary.words, summary.copy, summary.copied)
    ]


def _decode(model: LoadedModel, documents: list[_Document]) -> list[_Decoded]:
    """Decode ``documents`` in groups that share search settings; results in input order."""
    bundle = model.resolved.bundle
    results: list[_Decoded | None] = [None] * len(documents)
    groups: dict[tuple[int | None, int | None], list[int]] = {}
    for i, document in enumerate(documents):
        groups.setdefault((document.beam_size, document.max_length), []).append(i)
    for (beam_size, max_length), rows in groups.items():
        settings = summary_settings(bundle.config, bundle.codec, beam_size)
        if max_length:
            settings = replace(settings, max_length=max_length, min_length=min(settings.min_length, max_length - 1))
        texts = [documents[i].text for i in rows]
        summaries = summarize(model.backend, bundle.codec, texts, settings, bundle.config.data.max_source_words)
        for i, summary in zip(rows, summaries):
            entropy, _ = attention_signals(summary.attention)
            logprob = mean_log_prob(summary.score, summary.attention.shape[0], settings)
            results[i] = _Decoded(summary, model, ConfidenceScores(mean_logprob=logprob, attention_entropy=entropy))
    return results

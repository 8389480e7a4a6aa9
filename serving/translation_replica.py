"""The translation model deployment: batched decoding of sentences from concurrent requests.

Requests are split into sentences; the replica's batch queue gathers sentences from concurrent requests and
decodes them together through the shared search (:func:`attnops.pipelines.translation.translate.translate`). Loading,
alias following and live swaps come from :class:`~attnops.serving.replica.ModelReplica`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ray import serve

from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.monitor.features import Signals, translation_signals
from attnops.pipelines.translation.translate import translate
from attnops.serving.replica import LoadedModel, ModelReplica, RequestRejected, observed
from attnops.serving.schemas import (
    Attention,
    ConfidenceScores,
    ServedModel,
    TranslateRequest,
    TranslateResponse,
    Translation,
)
from attnops.serving.settings import TranslationSettings


@dataclass(frozen=True)
class _Sentence:
    text: str
    beam_size: int | None
    max_length: int | None
    return_attention: bool
    return_scores: bool
    measure: bool
    """Compute the sentence's :class:`Signals` for the inference log."""


@dataclass(frozen=True)
class _Decoded:
    translation: Translation
    served: ServedModel
    signals: Signals | None
    batch_size: int


@serve.deployment(max_ongoing_requests=256, max_queued_requests=512)
class TranslationReplica(ModelReplica):
    """Serves ``models:/NAME@ALIAS`` (from ``user_config``); reconfigured live by Serve."""

    settings_type = TranslationSettings
    item_length = staticmethod(lambda sentence: len(sentence.text.split()))

    @observed
    async def translate(self, request: TranslateRequest) -> TranslateResponse:
        start = time.perf_counter()
        model = self.loaded()
        sentences = request.sentences()
        if len(sentences) > self.settings.max_texts:
            raise RequestRejected(422, f"texts: at most {self.settings.max_texts} sentences per request")
        # Tokenising is CPU work: a worker thread, so the replica's event loop keeps serving meanwhile.
        encoded = await asyncio.to_thread(model.resolved.bundle.codec.encode_source, sentences)
        lengths = [len(ids) for ids in encoded]
        too_long = [i for i, n in enumerate(lengths) if n > self.settings.max_source_tokens]
        if too_long:
            raise RequestRejected(
                422,
                f"{'text' if request.text is not None else 'texts'}: sentences {too_long} have more than "
                f"{self.settings.max_source_tokens} source tokens",
            )
        measure = self.inference_log is not None and self.inference_log.sampled()
        items = [
            _Sentence(
                s, request.beam_size, request.max_length, request.return_attention, request.return_scores, measure
            )
            for s in sentences
        ]
        results = await asyncio.gather(*(self.submit(item) for item in items))
        if measure:
            self.log_records(self._records(sentences, results, time.perf_counter() - start))
        # A request's sentences may straddle a swap; the first sentence's model is reported.
        return TranslateResponse(translations=[r.translation for r in results], model=results[0].served)

    def _records(self, sentences: list[str], results: list[_Decoded], seconds: float) -> list[dict[str, Any]]:
        """One inference log record per sentence of a request."""
        now = datetime.now(UTC)
        request_id = serve.context._get_serve_request_context().request_id
        keep_text = self.settings.inference_log.include_text
        return [
            {
                "time": now,
                "request_id": request_id,
                "item": i,
                "task": self.task,
                "deployment": self.deployment,
                "model": result.served.name,
                "version": result.served.version,
                "latency_ms": seconds * 1000,
                "batch_size": result.batch_size,
                **(result.signals.as_dict() if result.signals else {}),
                "text": sentence if keep_text else None,
            }
            for i, (sentence, result) in enumerate(zip(sentences, results))
        ]

    async def run_batch(self, items: list[_Sentence]) -> list[_Decoded]:
        model = self.model  # one model for the whole batch, even if a swap lands meanwhile
        return await asyncio.to_thread(_decode, model, items)


def _decode(model: LoadedModel, items: list[_Sentence]) -> list[_Decoded]:
    """Decode ``items`` in groups that share search settings; results in input order."""
    bundle = model.resolved.bundle
    served = model.served()
    results: list[_Decoded | None] = [None] * len(items)
    groups: dict[tuple[int | None, int | None], list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault((item.beam_size, item.max_length), []).append(i)
    for (beam_size, max_length), rows in groups.items():
        settings = search_settings(bundle.config, bundle.codec, beam_size)
        if max_length:
            settings = replace(settings, max_length=max_length)
        outputs = translate(model.backend, bundle.codec, [items[i].text for i in rows], settings, batch_size=len(rows))
        for i, out in zip(rows, outputs):
            attention = (
                Attention(
                    source_tokens=out.source_tokens,
                    target_tokens=out.target_tokens,
                    weights=out.attention.tolist(),
                )
                if items[i].return_attention
                else None
            )
            signals = translation_signals(out, settings) if items[i].measure or items[i].return_scores else None
            scores = _scores(signals) if items[i].return_scores else None
            translation = Translation(text=out.text, attention=attention, scores=scores)
            results[i] = _Decoded(translation, served, signals if items[i].measure else None, len(items))
    return results


def _scores(signals: Signals) -> ConfidenceScores:
    return ConfidenceScores(mean_logprob=signals.mean_log_prob, attention_entropy=signals.attention_entropy)

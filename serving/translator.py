"""The translation model deployment: one exported model, batched decoding, live model swaps.

Requests are split into sentences; ``@serve.batch`` gathers sentences from concurrent requests and
decodes them together through the shared search (:func:`pipelines.translate.translate`). A
background thread follows the registry alias: a new version is loaded beside the old one, then
swapped in with one assignment, so in-flight and new requests always have a complete model.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, replace

from ray import serve
from ray.serve import metrics

from pipelines.onnx_backend import OnnxBackend
from pipelines.registry import ResolvedModel, current_version, resolve
from pipelines.translate import search_settings, translate
from serving.config import DEFAULT_MODEL_URI, ServiceSettings
from serving.schemas import Attention, ModelStatus, ServedModel, TranslateRequest, TranslateResponse, Translation

log = logging.getLogger(__name__)

BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128]


class RequestRejected(Exception):
    """A request the model cannot take; carries the HTTP status the gateway answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)  # both in args, so the exception pickles across processes

    @property
    def status(self) -> int:
        return self.args[0]

    @property
    def message(self) -> str:
        return self.args[1]


@dataclass(frozen=True)
class _Loaded:
    resolved: ResolvedModel
    backend: OnnxBackend
    loaded_at: str

    def served(self) -> ServedModel:
        r = self.resolved
        return ServedModel(name=r.name, version=r.version, alias=r.alias, uri=r.uri)


@dataclass(frozen=True)
class _Sentence:
    text: str
    beam_size: int | None
    max_length: int | None
    return_attention: bool


def _load(uri: str, settings: ServiceSettings) -> _Loaded:
    resolved = resolve(uri)
    backend = resolved.bundle.backend(settings.runtime)
    return _Loaded(resolved, backend, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


@serve.deployment(max_ongoing_requests=256, max_queued_requests=512, user_config={"model_uri": DEFAULT_MODEL_URI})
class Translator:
    """Serves ``models:/NAME@ALIAS`` (from ``user_config``); reconfigured live by Serve."""

    def __init__(self) -> None:
        self.settings = ServiceSettings()
        self.model: _Loaded | None = None
        self.last_error: str | None = None
        self._swap_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        # Exported through Ray's Prometheus endpoint beside Serve's own request counts and latencies.
        self.batch_sizes = metrics.Histogram(
            "attnops_batch_size", description="Sentences decoded together", boundaries=BATCH_SIZE_BUCKETS
        )
        self.sentences = metrics.Counter("attnops_sentences_total", description="Sentences translated")
        self.batches, self.largest_batch = 0, 0

    def reconfigure(self, user_config: dict) -> None:
        settings = ServiceSettings.model_validate(user_config or {})
        self.batch.set_max_batch_size(settings.max_batch_size)
        self.batch.set_batch_wait_timeout_s(settings.batch_wait_timeout_s)
        model_changed = self.model is None or settings.model_uri != self.settings.model_uri
        self.settings = settings
        if model_changed:
            self.model = _load(settings.model_uri, settings)  # fails start-up with the URI's message
            log.info("serving %s (version %s)", settings.model_uri, self.model.resolved.version)
        if self._poller is None and settings.poll_interval_s > 0:
            self._poller = threading.Thread(target=self._follow_alias, name="alias-poller", daemon=True)
            self._poller.start()

    def _follow_alias(self) -> None:
        """Daemon thread: it ends with the replica process."""
        while True:
            time.sleep(self.settings.poll_interval_s)
            self.reload()

    def reload(self) -> ModelStatus:
        """Load the version the URI names now, if it changed; keep the old model on any error."""
        with self._swap_lock:
            try:
                current = self.model
                candidate = current_version(self.settings.model_uri)
                if current is None or candidate != current.resolved.version:
                    self.model = _load(self.settings.model_uri, self.settings)
                    log.info("swapped to %s version %s", self.settings.model_uri, self.model.resolved.version)
                self.last_error = None
            except Exception as exc:  # the old model keeps serving; the error shows in /v1/models
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model reload failed: %s", self.last_error)
        return self.status()

    def status(self) -> ModelStatus:
        model = self.model
        return ModelStatus(
            task="translation",
            model=model.served() if model else None,
            loaded_at=model.loaded_at if model else None,
            last_error=self.last_error,
            batches=self.batches,
            largest_batch=self.largest_batch,
        )

    async def translate(self, request: TranslateRequest) -> TranslateResponse:
        model = self.model
        if model is None:
            raise RequestRejected(503, "no model loaded yet")
        sentences = request.sentences()
        if len(sentences) > self.settings.max_texts:
            raise RequestRejected(422, f"texts: at most {self.settings.max_texts} sentences per request")
        lengths = [len(ids) for ids in model.resolved.bundle.codec.encode_source(sentences)]
        too_long = [i for i, n in enumerate(lengths) if n > self.settings.max_source_tokens]
        if too_long:
            raise RequestRejected(
                422,
                f"{'text' if request.text is not None else 'texts'}: sentences {too_long} have more than "
                f"{self.settings.max_source_tokens} source tokens",
            )
        items = [_Sentence(s, request.beam_size, request.max_length, request.return_attention) for s in sentences]
        results = await asyncio.gather(*(self.batch(item) for item in items))
        # A request's sentences may straddle a swap; the first sentence's model is reported.
        return TranslateResponse(translations=[r[0] for r in results], model=results[0][1])

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)
    async def batch(self, items: list[_Sentence]) -> list[tuple[Translation, ServedModel]]:
        model = self.model  # one model for the whole batch, even if a swap lands meanwhile
        self.batch_sizes.observe(len(items))
        self.sentences.inc(len(items))
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(items))
        return await asyncio.to_thread(_decode, model, items)


def _decode(model: _Loaded, items: list[_Sentence]) -> list[tuple[Translation, ServedModel]]:
    """Decode ``items`` in groups that share search settings; results in input order."""
    bundle = model.resolved.bundle
    served = model.served()
    results: list[tuple[Translation, ServedModel] | None] = [None] * len(items)
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
            results[i] = (Translation(text=out.text, attention=attention), served)
    return results

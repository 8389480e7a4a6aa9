"""The captioning model deployment: checked uploads, batched captioning, live model swaps.

Each request's image is checked and decoded in the replica (never in the gateway); ``@serve.batch``
gathers the photos of concurrent requests, runs the image-encoder graph on them together, and
decodes their captions with the shared search. The registry alias is followed as for translation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, replace

import torch
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from torch import Tensor

from pipelines.caption_bundle import CaptionBundle
from pipelines.caption_evaluate import caption_photos, caption_search_settings
from pipelines.caption_onnx import OnnxImageEncoder
from pipelines.config import RuntimeConfig
from pipelines.image_input import ImageLimits, ImageRejected, open_image, photo_tensor
from pipelines.onnx_backend import OnnxBackend
from pipelines.registry import ResolvedModel, current_version, resolve
from serving.caption_schemas import CaptionOptions, CaptionResponse, WordAttention
from serving.schemas import ModelStatus, ServedModel
from serving.translator import RequestRejected

log = logging.getLogger(__name__)

DEFAULT_CAPTION_MODEL_URI = "models:/captioning-flickr8k@champion"


class CaptionSettings(BaseModel):
    """The caption deployment's ``user_config`` in the Serve config (changed live)."""

    model_config = ConfigDict(extra="forbid")

    model_uri: str = DEFAULT_CAPTION_MODEL_URI
    max_image_bytes: int = Field(8 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(25_000_000, ge=1)
    """Width × height from the file's header; larger images are refused before decoding."""
    max_batch_size: int = Field(16, ge=1)
    """Most photos captioned together (``@serve.batch``)."""
    batch_wait_timeout_s: float = Field(0.01, ge=0.0)
    poll_interval_s: float = Field(10.0, ge=0.0)
    """How often the alias is checked for a new version (0: never)."""
    runtime: RuntimeConfig | None = None
    """ONNX Runtime settings; default: the exported model's config."""


@dataclass(frozen=True)
class _Loaded:
    resolved: ResolvedModel
    encoder: OnnxImageEncoder
    backend: OnnxBackend
    loaded_at: str

    @property
    def bundle(self) -> CaptionBundle:
        return self.resolved.bundle

    def served(self) -> ServedModel:
        r = self.resolved
        return ServedModel(name=r.name, version=r.version, alias=r.alias, uri=r.uri)


@dataclass(frozen=True)
class _Photo:
    pixels: Tensor  # (3, H, W) in [0, 1]
    options: CaptionOptions


def _load(uri: str, settings: CaptionSettings) -> _Loaded:
    resolved = resolve(uri)
    if not isinstance(resolved.bundle, CaptionBundle):
        raise ValueError(f"{uri} is a {resolved.bundle.config.task} model, not a captioning one")
    bundle = resolved.bundle
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return _Loaded(resolved, bundle.image_encoder(settings.runtime), bundle.backend(settings.runtime), stamp)


@serve.deployment(
    max_ongoing_requests=64, max_queued_requests=128, user_config={"model_uri": DEFAULT_CAPTION_MODEL_URI}
)
class CaptionModel:
    """Serves ``models:/NAME@ALIAS`` of a captioner (from ``user_config``); reconfigured live by Serve."""

    def __init__(self) -> None:
        self.settings = CaptionSettings()
        self.model: _Loaded | None = None
        self.last_error: str | None = None
        self._swap_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self.batches, self.largest_batch = 0, 0

    def reconfigure(self, user_config: dict) -> None:
        settings = CaptionSettings.model_validate(user_config or {})
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
        while True:
            time.sleep(self.settings.poll_interval_s)
            self.reload()

    def reload(self) -> ModelStatus:
        """Load the version the URI names now, if it changed; keep the old model on any error."""
        with self._swap_lock:
            try:
                current = self.model
                if current is None or current_version(self.settings.model_uri) != current.resolved.version:
                    self.model = _load(self.settings.model_uri, self.settings)
                self.last_error = None
            except Exception as exc:  # the old model keeps serving; the error shows in /v1/models
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model reload failed: %s", self.last_error)
        return self.status()

    def status(self) -> ModelStatus:
        model = self.model
        return ModelStatus(
            task="captioning",
            model=model.served() if model else None,
            loaded_at=model.loaded_at if model else None,
            last_error=self.last_error,
            batches=self.batches,
            largest_batch=self.largest_batch,
        )

    async def caption(self, data: bytes, options: CaptionOptions) -> CaptionResponse:
        """Caption one uploaded image file; bad files raise :class:`RequestRejected` with a 4xx status."""
        model = self.model
        if model is None:
            raise RequestRejected(503, "no model loaded yet")
        limits = ImageLimits(self.settings.max_image_bytes, self.settings.max_image_pixels)
        try:
            image = await asyncio.to_thread(open_image, data, limits)
        except ImageRejected as exc:
            raise RequestRejected(exc.status, exc.message) from None
        pixels = photo_tensor(image, model.bundle.manifest.image_size)
        return await self.batch(_Photo(pixels, options))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def batch(self, items: list[_Photo]) -> list[CaptionResponse]:
        model = self.model  # one model for the whole batch, even if a swap lands meanwhile
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(items))
        return await asyncio.to_thread(_caption, model, items)


def _caption(model: _Loaded, items: list[_Photo]) -> list[CaptionResponse]:
    """Caption ``items`` in groups that share search settings; results in input order."""
    bundle, served = model.bundle, model.served()
    results: list[CaptionResponse | None] = [None] * len(items)
    groups: dict[tuple[int | None, int | None], list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault((item.options.beam_size, item.options.max_length), []).append(i)
    for (beam_size, max_length), rows in groups.items():
        settings = caption_search_settings(bundle.config, bundle.codec, beam_size)
        if max_length:
            settings = replace(settings, max_length=max_length)
        photos = torch.stack([items[i].pixels for i in rows])  # (B, 3, H, W)
        captions = caption_photos(model.encoder, model.backend, bundle.codec, photos, settings, batch_size=len(rows))
        for i, caption in zip(rows, captions):
            response = CaptionResponse(caption=caption.text, model=served)
            if items[i].options.return_attention:
                side = int(caption.attention.shape[1] ** 0.5)
                maps = caption.attention.view(-1, side, side).tolist()  # (steps, h, w)
                response.grid = (side, side)
                response.attention = [WordAttention(word=w, weights=m) for w, m in zip(caption.words, maps)]
            results[i] = response
    return results

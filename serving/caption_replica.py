"""The captioning deployment: checked uploads, photos from concurrent requests captioned together.

Each upload is checked and decoded in the request's worker thread (never in the gateway); the batch queue
then runs the photos of concurrent requests through the image-encoder graph together and decodes their
captions with the shared search.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import torch
from ray import serve
from torch import Tensor

from attnops.pipelines.captioning.decode import Caption, caption_photos
from attnops.pipelines.captioning.image_input import ImageLimits, open_image, photo_tensor
from attnops.pipelines.inference.decoding import search_settings
from attnops.serving.caption_schemas import CaptionOptions, CaptionResponse, CaptionUpload, WordAttention
from attnops.serving.replica import LoadedModel, ModelReplica
from attnops.serving.settings import CaptionSettings


@dataclass(frozen=True)
class _Photo:
    pixels: Tensor  # (3, H, W) in [0, 1]
    options: CaptionOptions


def _response(caption: Caption, options: CaptionOptions, model: LoadedModel) -> CaptionResponse:
    response = CaptionResponse(caption=caption.text, model=model.served())
    if options.return_attention:
        side = int(caption.attention.shape[1] ** 0.5)
        maps = caption.attention.view(-1, side, side).tolist()  # (steps, h, w)
        response.grid = (side, side)
        response.attention = [WordAttention(word=w, weights=m) for w, m in zip(caption.words, maps)]
    return response


@serve.deployment(max_ongoing_requests=64, max_queued_requests=128)
class CaptionReplica(ModelReplica):
    """Serves a registered captioner."""

    settings_type = CaptionSettings
    unit = "photos"

    def _decode(self, upload: CaptionUpload) -> _Photo:
        model = self.loaded()
        settings: CaptionSettings = self.settings
        image = open_image(upload.data, ImageLimits(settings.max_image_bytes, settings.max_image_pixels))
        return _Photo(photo_tensor(image, model.resolved.bundle.manifest.image_size), upload.options)

    async def caption(self, upload: CaptionUpload) -> CaptionResponse:
        """Caption one uploaded image file; a bad file raises :class:`ImageRejected` with a 4xx status."""
        return await self.submit(await asyncio.to_thread(self._decode, upload))

    async def run_batch(self, photos: list[_Photo]) -> list[CaptionResponse]:
        model = self.model  # one model for the whole batch, even if a swap lands meanwhile
        return await asyncio.to_thread(_caption, model, photos)


def _caption(model: LoadedModel, photos: list[_Photo]) -> list[CaptionResponse]:
    """Caption ``photos`` in groups that share search settings; results in input order."""
    bundle, sessions = model.resolved.bundle, model.backend
    results: list[CaptionResponse | None] = [None] * len(photos)
    groups: dict[tuple[int | None, int | None], list[int]] = {}
    for i, photo in enumerate(photos):
        groups.setdefault((photo.options.beam_size, photo.options.max_length), []).append(i)
    for (beam_size, max_length), rows in groups.items():
        settings = search_settings(bundle.config, bundle.codec, beam_size)
        if max_length:
            settings = replace(settings, max_length=max_length)
        pixels = torch.stack([photos[i].pixels for i in rows])  # (B, 3, H, W)
        captions = caption_photos(
            sessions.image_encoder, sessions.decoder, bundle.codec, pixels, settings, batch_size=len(rows)
        )
        for i, caption in zip(rows, captions):
            results[i] = _response(caption, photos[i].options, model)
    return results

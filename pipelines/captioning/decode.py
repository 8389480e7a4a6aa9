"""Caption photos or region grids with any decoding backend (the PyTorch model or the ONNX Runtime sessions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from attnops.models.captioning import grid_mask
from attnops.models.search import DecodingBackend, SearchSettings, decode
from attnops.pipelines.captioning.captions import CaptionCodec


@dataclass
class Caption:
    """A generated caption: its text, its words plus ``</s>``, and attention ``(steps, regions)``."""

    text: str
    words: list[str]
    attention: Tensor


def caption_grids(
    backend: DecodingBackend, codec: CaptionCodec, grids: Tensor, settings: SearchSettings, batch_size: int = 50
) -> list[Caption]:
    """Caption every region grid of ``grids (N, S, C)``, in order."""
    captions = []
    for start in range(0, grids.shape[0], batch_size):
        src = grids[start : start + batch_size].float()  # (B, S, C)
        hypotheses = decode(backend, src, grid_mask(src), settings)
        texts = codec.decode([h.tokens for h in hypotheses])
        captions += [
            Caption(text, [*codec.tokens(h.tokens), "</s>"], h.attention) for h, text in zip(hypotheses, texts)
        ]
    return captions


def caption_photos(
    image_encoder: Callable[[Tensor], Tensor],
    backend: DecodingBackend,
    codec: CaptionCodec,
    photos: Tensor,
    settings: SearchSettings,
    batch_size: int = 50,
) -> list[Caption]:
    """Caption photos ``(N, 3, H, W)`` in [0, 1]: the image encoder (PyTorch or ONNX) makes the grids."""
    captions = []
    for start in range(0, photos.shape[0], batch_size):
        captions += caption_grids(backend, codec, image_encoder(photos[start : start + batch_size]), settings)
    return captions

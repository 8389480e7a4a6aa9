"""Region grids of a frozen image encoder, computed once per photo set and cached on disk.

With a frozen encoder every epoch would recompute the same features; caching them makes decoder
training on CPU cores about as fast as the decoder alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from attnops.models.image_encoder import ARCHITECTURE, ImageEncoder

log = logging.getLogger(__name__)

CACHE_ENV = "ATTNOPS_CACHE_DIR"
BATCH = 50


def cache_dir() -> Path:
    """``$ATTNOPS_CACHE_DIR``, else ``~/.cache/attnops``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "attnops").expanduser()


def image_tensor(image: Image.Image) -> Tensor:
    """An RGB PIL image → ``(3, H, W)`` float in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def load_images(paths: list[Path], flip: bool = False) -> Tensor:
    """Photos of one size → ``(N, 3, H, W)`` in [0, 1], mirrored left-right if ``flip``."""
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image_tensor(image))
    batch = torch.stack(images)
    return batch.flip(-1) if flip else batch


@torch.no_grad()
def encode_images(encoder: ImageEncoder, paths: list[Path], flip: bool = False) -> Tensor:
    """Region grids ``(N, S, C)`` (float16) of the photos at ``paths``, ``BATCH`` photos at a time."""
    encoder = encoder.eval()
    grids = [encoder(load_images(paths[i : i + BATCH], flip)).half() for i in range(0, len(paths), BATCH)]
    return torch.cat(grids)


def _cache_key(folder: Path, names: list[str], tap_block: int | None, flip: bool) -> str:
    digest = hashlib.sha1(f"{ARCHITECTURE}|{tap_block}|{flip}".encode())
    for name in names:
        digest.update(f"{name}:{(folder / name).stat().st_size};".encode())
    return digest.hexdigest()[:16]


def cached_features(folder: Path, names: list[str], tap_block: int | None, flip: bool = False) -> Tensor:
    """Region grids ``(N, S, C)`` of ``folder/name`` for each name, from the cache or computed and cached."""
    path = cache_dir() / "features" / f"{folder.parent.name}-{_cache_key(folder, names, tap_block, flip)}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    log.info("encoding %d photos of %s (tap_block=%s, flip=%s)", len(names), folder, tap_block, flip)
    grids = encode_images(ImageEncoder(tap_block=tap_block), [folder / n for n in names], flip)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    torch.save(grids, partial)
    partial.replace(path)  # atomic: a concurrent reader never sees half a file
    return grids

"""Untrusted image bytes → a checked RGB photo of the model's input size, or a clear rejection.

Checks, in order: something was sent; it is within the byte limit; Pillow recognises it; its format
is JPEG, PNG or WebP; its header's pixel count is within the limit (before any pixel is decoded, so a
decompression bomb costs nothing); it decodes completely (truncated files are refused).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from torch import Tensor

from attnops.pipelines.captioning.image_features import image_tensor
from attnops.pipelines.errors import InputRejected

FORMATS = ("JPEG", "PNG", "WEBP")
INPUT_SIZE = 160
"""Side of the square photos the captioner was trained on (flickr8k_mini's size)."""


class ImageRejected(InputRejected):
    """An image the service will not caption."""


@dataclass(frozen=True)
class ImageLimits:
    """What an upload may be."""

    max_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 25_000_000
    """Width × height from the header (a 5000 × 5000 photo)."""


def open_image(data: bytes, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Validate and decode ``data`` into an RGB image.

    Raises:
        ImageRejected: 400 empty, not an image, or truncated/corrupt; 413 too many bytes or pixels;
            415 a format other than JPEG, PNG or WebP.
    """
    if not data:
        raise ImageRejected(400, "empty upload: send a JPEG, PNG or WebP image")
    if len(data) > limits.max_bytes:
        raise ImageRejected(413, f"image of {len(data)} bytes is over the limit of {limits.max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(413, f"image refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(400, "not an image (or one Pillow cannot identify)") from exc
    if image.format not in FORMATS:
        raise ImageRejected(415, f"unsupported image format {image.format}; send JPEG, PNG or WebP")
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageRejected(413, f"image of {width}x{height} pixels is over the limit of {limits.max_pixels} pixels")
    if width < 1 or height < 1:
        raise ImageRejected(400, f"image of {width}x{height} pixels has no pixels")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(400, f"truncated or corrupt {image.format} image: {exc}") from exc
    return image.convert("RGB")


def photo_tensor(image: Image.Image, size: int = INPUT_SIZE) -> Tensor:
    """An RGB image squashed to ``size × size`` (as the training photos were) → ``(3, size, size)`` in [0, 1]."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return image_tensor(image)

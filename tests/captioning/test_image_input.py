"""Upload checks: real photos pass; empty, non-image, truncated, unsupported, oversized and bomb images are refused."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from attnops.pipelines.captioning.captions import load_captions
from attnops.pipelines.captioning.image_input import ImageLimits, ImageRejected, open_image, photo_tensor
from attnops.pipelines.translation.config import DataConfig

FLICKR = DataConfig().data_root() / "flickr8k_mini"


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return (FLICKR / "images" / load_captions(FLICKR)["test"].images[0]).read_bytes()


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_real_photo_in_each_supported_format(photo_bytes, fmt):
    photo = Image.open(io.BytesIO(photo_bytes))
    data = photo_bytes if fmt == "JPEG" else _encode(photo.convert("RGBA" if fmt == "PNG" else "RGB"), fmt)
    image = open_image(data)
    assert image.mode == "RGB" and image.size == (160, 160)
    tensor = photo_tensor(image.resize((320, 200)))
    assert tensor.shape == (3, 160, 160) and 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0


def _status(data: bytes, limits: ImageLimits | None = None) -> tuple[int, str]:
    with pytest.raises(ImageRejected) as caught:
        open_image(data, limits or ImageLimits())
    return caught.value.status, caught.value.message


def test_bad_inputs_are_refused_with_a_status_and_message(photo_bytes):
    photo = Image.open(io.BytesIO(photo_bytes))
    assert _status(b"") == (400, "empty upload: send a JPEG, PNG or WebP image")
    assert _status(b"a dog runs on the grass")[0] == 400
    status, message = _status(photo_bytes[: len(photo_bytes) // 2])
    assert status == 400 and "truncated" in message
    status, message = _status(_encode(photo, "GIF"))
    assert status == 415 and "GIF" in message
    status, message = _status(_encode(photo, "BMP"))
    assert status == 415 and "BMP" in message
    status, message = _status(photo_bytes, ImageLimits(max_bytes=1000))
    assert status == 413 and "bytes" in message
    status, message = _status(photo_bytes, ImageLimits(max_pixels=100 * 100))
    assert status == 413 and "160x160" in message


def _claim_size(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its header (IHDR) rewritten to claim another size, its CRC fixed."""
    header = struct.pack(">II", width, height) + png[24:29]
    return png[:16] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + png[33:]


@pytest.mark.parametrize("side", [5000, 20000])
def test_decompression_bomb_is_refused_from_its_header(side):
    # A few hundred bytes that claim 25 M (over our limit) or 400 M pixels (over Pillow's own bomb limit).
    bomb = _claim_size(_encode(Image.new("L", (8, 8)), "PNG"), side + 1, side)
    assert len(bomb) < 200
    status, message = _status(bomb)
    assert status == 413 and ("pixels" in message or "bomb" in message)

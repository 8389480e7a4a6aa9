"""POST /v1/caption over real HTTP on a Ray Serve app: real photos (multipart and base64), batching, bad input."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import zlib
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image

from attnops.pipelines.captioning.captions import load_captions
from attnops.pipelines.registry import promote, register
from attnops.pipelines.translation.config import DataConfig
from tests.serving.fuzz import fuzz_every_route

pytestmark = [pytest.mark.slow, pytest.mark.ray]

NAME = "captioning-serve-it"
FLICKR = DataConfig().data_root() / "flickr8k_mini"
MAX_BYTES = 300_000


@dataclass
class Service:
    url: str
    photos: list[bytes]


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models, ray_serve):
    """A caption-only app on the shared Ray serving the tiny captioner registered and promoted to @champion."""
    root = tmp_path_factory.mktemp("caption-serve")
    tracking_uri, trained = tiny_models.copy(root, "captioning")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.setenv("ATTNOPS_CACHE_DIR", str(root / "cache"))
        env.chdir(root)
        promote(NAME, str(register(trained["captioning"].run_id, NAME).version))
        options = {
            "Gateway": {"ray_actor_options": {"num_cpus": 0}},
            "Captioner": {
                "ray_actor_options": {"num_cpus": 1},
                "user_config": {
                    "model_uri": f"models:/{NAME}@champion",
                    "max_image_bytes": MAX_BYTES,
                    "max_batch_size": 8,
                    "batch_wait_timeout_s": 0.05,
                    "poll_interval_s": 0,
                },
            },
        }
        names = load_captions(FLICKR)["test"].images[:4]
        with ray_serve.deployed(options, ("captioning",), {"MLFLOW_TRACKING_URI": tracking_uri}) as url:
            yield Service(url, [(FLICKR / "images" / n).read_bytes() for n in names])


def _upload(url: str, data: bytes, filename: str = "photo.jpg", **fields) -> httpx.Response:
    files = {"image": (filename, data, "application/octet-stream")}
    return httpx.post(f"{url}/v1/caption", files=files, data={k: str(v) for k, v in fields.items()}, timeout=60)


def _json(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/v1/caption", json=body, timeout=60)


def test_multipart_upload_of_a_real_photo(app):
    response = _upload(app.url, app.photos[0])
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["caption"], str)
    assert body["model"]["name"] == NAME and body["model"]["alias"] == "champion" and body["model"]["version"] == "1"
    assert "attention" not in body


def test_json_base64_with_attention_maps_over_the_grid(app):
    image = base64.b64encode(app.photos[1]).decode()
    response = _json(app.url, {"image": image, "beam_size": 2, "return_attention": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["grid"] == [5, 5]
    assert len(body["attention"]) >= 1 and body["attention"][-1]["word"] == "</s>"
    for word in body["attention"]:
        assert len(word["weights"]) == 5 and all(len(row) == 5 for row in word["weights"])
        assert sum(map(sum, word["weights"])) == pytest.approx(1.0, abs=1e-4)


def test_concurrent_uploads_are_captioned_in_batches(app):
    async def burst():
        async with httpx.AsyncClient(timeout=60) as client:
            files = [{"image": ("p.jpg", app.photos[i % 4], "image/jpeg")} for i in range(12)]
            return await asyncio.gather(*(client.post(f"{app.url}/v1/caption", files=f) for f in files))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 12
    captions = [r.json()["caption"] for r in responses]
    assert captions[:4] == captions[4:8]  # the same photo gets the same caption, whatever its batch
    status = httpx.get(f"{app.url}/v1/models").json()[0]
    assert status["task"] == "captioning" and status["largest_batch"] > 1


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    png = _encode(Image.new("L", (8, 8)), "PNG")
    header = struct.pack(">II", width, height) + png[24:29]
    return png[:16] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + png[33:]


def test_each_bad_upload_gets_a_4xx_with_a_message(app):
    photo = Image.open(io.BytesIO(app.photos[0]))
    big = _encode(Image.effect_noise((400, 400), 64).convert("RGB"), "PNG")
    assert len(big) > MAX_BYTES
    cases = [
        (b"", 400, "empty upload"),
        (b"this is not an image", 400, "not an image"),
        (app.photos[0][: len(app.photos[0]) // 2], 400, "truncated"),
        (_encode(photo, "GIF"), 415, "unsupported image format GIF"),
        (_encode(photo, "TIFF"), 415, "unsupported image format TIFF"),
        (big, 413, f"limit of {MAX_BYTES} bytes"),
        (_png_claiming(6000, 6000), 413, "pixels"),
        (_png_claiming(30000, 30000), 413, "decompression bomb"),
    ]
    for data, status, fragment in cases:
        for response in (_upload(app.url, data), _json(app.url, {"image": base64.b64encode(data).decode()})):
            assert response.status_code == status, (fragment, response.text)
            assert fragment in response.json()["detail"]
    assert _upload(app.url, app.photos[0]).status_code == 200  # still serving


JSON = "application/json"


@pytest.mark.parametrize(
    "kwargs, status, fragment",
    [
        ({"json": {"image": "%%% not base64 %%%"}}, 400, "base64"),
        ({"json": {"image": "bäd ßase64"}}, 400, "base64"),
        (
            {"content": b'{"image": "abc", "beam_size": NaN}', "headers": {"Content-Type": "application/json"}},
            400,
            "NaN",
        ),
        ({"json": {"picture": "abc"}}, 422, "image"),
        ({"json": {"image": "abc", "beam_size": 99}}, 422, "beam_size"),
        ({"data": {"beam_size": "2"}, "files": {"other": ("a.jpg", b"x")}}, 422, "field named 'image'"),
        ({"content": b"raw bytes", "headers": {"Content-Type": "image/jpeg"}}, 415, "multipart/form-data"),
    ],
)
def test_malformed_requests_get_a_4xx_with_a_message(app, kwargs, status, fragment):
    response = httpx.post(f"{app.url}/v1/caption", timeout=60, **kwargs)
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_translation_route_says_no_translation_model_is_deployed(app):
    response = httpx.post(f"{app.url}/v1/translate", json={"text": "Hallo"})
    assert response.status_code == 404 and "no translation model" in response.text, response.text
    assert httpx.get(f"{app.url}/readyz").json()["ready"] is True


def test_every_route_survives_schema_fuzzing(app):
    sent = fuzz_every_route(app.url, {}, examples=30)
    print("\nfuzzed requests per route:", dict(sent))
    assert sent["POST /v1/caption"] >= 30
    assert _upload(app.url, app.photos[0]).status_code == 200

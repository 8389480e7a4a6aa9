"""Request and response bodies of ``POST /v1/caption`` (pydantic; unknown fields are rejected)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from attnops.serving.schemas import MAX_BEAM_SIZE, ServedModel, _Body


class CaptionOptions(_Body):
    """How to caption; the same fields come as form fields beside a multipart upload."""

    beam_size: int | None = Field(None, ge=1, le=MAX_BEAM_SIZE, description="Default: the model's config.")
    max_length: int | None = Field(None, ge=1, le=64, description="Longest caption in words.")
    return_attention: bool = Field(False, description="Add each word's attention map over the photo.")


class CaptionRequest(CaptionOptions):
    image: str = Field(description="The photo file (JPEG, PNG or WebP), base64-encoded.")


class WordAttention(_Body):
    word: str
    weights: list[list[float]] = Field(description="Attention over the photo's region grid, row by row; sums to 1.")


class CaptionResponse(_Body):
    caption: str
    model: ServedModel
    grid: tuple[int, int] | None = Field(None, description="Rows and columns of the region grid (with attention).")
    attention: list[WordAttention] | None = None


@dataclass(frozen=True)
class CaptionUpload:
    """What the gateway hands over: the uploaded file's bytes and the request's options."""

    data: bytes
    options: CaptionOptions


def caption_request_body() -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of ``POST /v1/caption``: a multipart upload or JSON with base64."""
    upload = {"type": "string", "format": "binary", "description": "The photo file (JPEG, PNG or WebP)."}
    options = CaptionOptions.model_json_schema()
    form = {"type": "object", "required": ["image"], "properties": {"image": upload, **options["properties"]}}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": form},
            "application/json": {"schema": CaptionRequest.model_json_schema()},
        },
    }


async def read_caption_upload(request: Request) -> CaptionUpload:
    """The image file and options of a caption request, from multipart form data or JSON (base64)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            body = CaptionRequest.model_validate_json(await request.body())
            try:
                data = base64.b64decode(body.image, validate=True)
            except ValueError as exc:  # binascii.Error, or characters outside ASCII
                raise HTTPException(400, f"image: not valid base64 ({exc})") from exc
            return CaptionUpload(data, CaptionOptions.model_validate(body.model_dump(exclude={"image"})))
        if kind == "multipart/form-data":
            form = await request.form()
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart body needs a file field named 'image'")
            fields = {key: value for key, value in form.items() if key != "image"}
            return CaptionUpload(await upload.read(), CaptionOptions.model_validate(fields))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    raise HTTPException(415, "send the image as multipart/form-data (field 'image') or application/json (base64)")

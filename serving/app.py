"""The REST gateway: a FastAPI ingress deployment in front of one model deployment per task.

``serve run serving/serve_config.yaml`` (or ``attnops serve``) builds it with :func:`build_app`.

FastAPI reads the endpoint signatures at runtime, so this module keeps real (not postponed) annotations.
"""

import base64
import binascii
import os
import secrets
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from ray import serve
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from serving.caption_schemas import CaptionOptions, CaptionRequest, CaptionResponse
from serving.captioner import CaptionModel
from serving.schemas import ModelStatus, TranslateRequest, TranslateResponse
from serving.translator import RequestRejected, Translator

TOKEN_ENV = "ATTNOPS_API_TOKEN"
RETRY_AFTER_S = 1
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""Request bodies above this are refused from their Content-Length, before they are read."""

api = FastAPI(
    title="attnops",
    description="Attention models behind a REST API: translation now; one model deployment per task.",
    version="1",
)


def _authorize(request: Request) -> None:
    """When ``ATTNOPS_API_TOKEN`` is set, every /v1 request needs ``Authorization: Bearer <token>``."""
    expected = os.environ.get(TOKEN_ENV)
    if not expected:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def _require_json(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "send the body as application/json")


def _busy() -> JSONResponse:
    return JSONResponse(
        {"detail": "the service is at capacity; retry shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _caption_input(request: Request) -> tuple[bytes, CaptionOptions]:
    """The image file and the options of a caption request, from multipart form data or JSON."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            body = CaptionRequest.model_validate_json(await request.body())
            try:
                data = base64.b64decode(body.image, validate=True)
            except binascii.Error as exc:
                raise HTTPException(400, f"image: not valid base64 ({exc})") from exc
            return data, CaptionOptions.model_validate(body.model_dump(exclude={"image"}))
        if kind == "multipart/form-data":
            form = await request.form()
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart body needs a file field named 'image'")
            fields = {key: value for key, value in form.items() if key != "image"}
            return await upload.read(), CaptionOptions.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    raise HTTPException(415, "send the image as multipart/form-data (field 'image') or application/json (base64)")


@serve.deployment(max_ongoing_requests=512, max_queued_requests=1024)
@serve.ingress(api)
class Gateway:
    def __init__(self, translator: DeploymentHandle | None, captioner: DeploymentHandle | None = None) -> None:
        self.translator = translator
        self.captioner = captioner

    @api.get("/healthz", summary="the gateway is up")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="a model is loaded and answering")
    async def readyz(self) -> JSONResponse:
        statuses: list[ModelStatus] = [await handle.status.remote() for handle in self._handles()]
        ready = all(status.model is not None for status in statuses)
        models = [status.model and status.model.model_dump() for status in statuses]
        body = {"ready": ready, "model": models[0], "models": models}
        return JSONResponse(body, 200 if ready else 503)

    @api.get("/v1/models", dependencies=[Depends(_authorize)], response_model=list[ModelStatus])
    async def models(self) -> list[ModelStatus]:
        return [await handle.status.remote() for handle in self._handles()]

    @api.post("/v1/models/reload", dependencies=[Depends(_authorize)], response_model=list[ModelStatus])
    async def reload(self) -> list[ModelStatus]:
        """Follow the registry alias now instead of waiting for the next poll."""
        return [await handle.reload.remote() for handle in self._handles()]

    def _handles(self) -> list[DeploymentHandle]:
        return [handle for handle in (self.translator, self.captioner) if handle is not None]

    @api.post(
        "/v1/translate",
        dependencies=[Depends(_authorize), Depends(_require_json)],
        response_model=TranslateResponse,
        response_model_exclude_none=True,
    )
    async def translate(self, body: TranslateRequest) -> Any:
        if self.translator is None:
            raise HTTPException(404, "no translation model is deployed")
        try:
            return await self.translator.translate.remote(body)
        except BackPressureError:
            return _busy()
        except Exception as exc:
            cause = getattr(exc, "cause", exc)  # Ray wraps a replica's exception; the cause is ours
            if isinstance(cause, RequestRejected):
                raise HTTPException(cause.status, cause.message) from exc
            raise

    @api.post(
        "/v1/caption",
        dependencies=[Depends(_authorize)],
        response_model=CaptionResponse,
        response_model_exclude_none=True,
        summary="caption a photo: multipart upload (field 'image') or JSON with the file base64-encoded",
    )
    async def caption(self, request: Request) -> Any:
        if self.captioner is None:
            raise HTTPException(404, "no captioning model is deployed")
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"request body is over the limit of {MAX_UPLOAD_BYTES} bytes")
        data, options = await _caption_input(request)
        try:
            return await self.captioner.caption.remote(data, options)
        except BackPressureError:
            return _busy()
        except Exception as exc:
            cause = getattr(exc, "cause", exc)
            if isinstance(cause, RequestRejected):
                raise HTTPException(cause.status, cause.message) from exc
            raise


def application(options: dict[str, dict[str, Any]]) -> serve.Application:
    """The app graph, with per-deployment options (as in the Serve config's ``deployments``).

    Each task's deployment is built when the options name it; with neither named, the Translator is.
    """
    named = {name for name in ("Translator", "CaptionModel") if name in options} or {"Translator"}
    translator = Translator.options(**options.get("Translator", {})).bind() if "Translator" in named else None
    captioner = CaptionModel.options(**options["CaptionModel"]).bind() if "CaptionModel" in named else None
    return Gateway.options(**options.get("Gateway", {})).bind(translator, captioner)


def build_app(args: dict[str, Any]) -> serve.Application:
    """Serve's application builder (``import_path: serving.app:build_app``); options come from the config."""
    return application({})

"""The REST gateway: a FastAPI ingress deployment in front of one model deployment per task.

:mod:`attnops.serving.build` builds the application around it. The gateway's process imports this module alone,
which loads no model runtime (neither torch nor ONNX Runtime) and no task: it forwards requests to the model
deployments by task name.

FastAPI reads the endpoint signatures at runtime, so this module keeps real (not postponed) annotations.
"""

import base64
import logging
import os
from typing import Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from attnops.pipelines.errors import InputRejected
from attnops.serving.auth import TokenMiddleware, api_token
from attnops.serving.caption_schemas import (
    CaptionOptions,
    CaptionRequest,
    CaptionResponse,
    CaptionUpload,
    caption_request_body,
)
from attnops.serving.observability.metrics import METRICS_PORT_ENV, relay
from attnops.serving.playground import mount_playground
from attnops.serving.rollout.router import RolloutReport, Rollouts
from attnops.serving.rollout.split import STICKY_HEADER, Split
from attnops.serving.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    ModelStatus,
    SummarizeRequest,
    SummarizeResponse,
    TranslateRequest,
    TranslateResponse,
)
from attnops.serving.strict_json import StrictJSONMiddleware

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""Request bodies above this are refused (413), from their Content-Length when they declare one."""

api = FastAPI(
    title="attnops",
    description="Attention models behind a REST API: translation, document classification, extractive and "
    "abstractive summarization and image captioning; one model deployment per task.",
    version="1",
)
api.add_middleware(StrictJSONMiddleware, max_bytes=MAX_UPLOAD_BYTES)
api.add_middleware(TokenMiddleware)  # outermost: no body is read for a request without the token
mount_playground(api)


def _require_json(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "send the body as application/json")


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _caption_upload(request: Request) -> CaptionUpload:
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


async def _call(handles: dict[str, DeploymentHandle], task: str, method: str, body: Any) -> Any:
    """Call a model deployment; its rejections become their 4xx, a full queue or a replica that died under
    the request a 503 with Retry-After (Serve starts a replacement; the client retries)."""
    handle = handles.get(task)
    if handle is None:
        raise HTTPException(404, f"this service has no {task} model deployed")
    try:
        return await getattr(handle, method).remote(body)
    except BackPressureError:
        return _unavailable("the service is at capacity; retry shortly")
    except RayActorError:
        return _unavailable("the model replica went away; a new one is starting, retry shortly")
    except Exception as exc:
        cause = getattr(exc, "cause", exc)  # Ray wraps a replica's exception; the cause is ours
        if isinstance(cause, InputRejected):
            raise HTTPException(cause.status, cause.message) from exc
        raise


async def _challenger_status(handle: DeploymentHandle) -> ModelStatus | None:
    """The challenger's status; None while it has no live replica (it crashed, and Serve is replacing it)."""
    try:
        return await handle.status.remote()
    except RayActorError:
        return None


@serve.deployment(max_ongoing_requests=512, max_queued_requests=1024)
@serve.ingress(api)
class Gateway:
    def __init__(
        self, models: dict[str, DeploymentHandle], challengers: dict[str, DeploymentHandle] | None = None
    ) -> None:
        self.models = models
        """Model deployment handles by task."""
        self.challengers = challengers or {}
        """Challenger deployment handles (``@challenger`` of the same model) by task, for rollouts."""
        self.rollouts = Rollouts()

    async def _statuses(self) -> list[ModelStatus]:
        return [await handle.status.remote() for handle in self.models.values()]

    @api.get("/healthz", summary="the gateway is up")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="every deployed model is loaded and answering")
    async def readyz(self) -> JSONResponse:
        """Ready while every model is loaded; an unreachable registry is reported, not counted against it (the
        loaded versions keep serving, and alias following resumes when the registry is back). With an API token
        set (the probe is open) it names no model and no registry address."""
        statuses = await self._statuses()
        ready = all(status.model is not None for status in statuses)
        unreachable = [status for status in statuses if status.registry == "unreachable"]
        registry = "unreachable" if unreachable else "reachable"
        if api_token() is not None:
            models = {status.task: status.model is not None for status in statuses}
            return JSONResponse({"ready": ready, "models": models, "registry": registry}, 200 if ready else 503)
        first = statuses[0].model if statuses else None
        body = {
            "ready": ready,
            "model": first and first.model_dump(),
            "models": {status.task: status.model and status.model.model_dump() for status in statuses},
            "registry": registry,
            "registry_error": unreachable[0].last_error if unreachable else None,
        }
        return JSONResponse(body, 200 if ready else 503)

    @api.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics of this node")
    async def metrics(self) -> PlainTextResponse:
        """Ray's Prometheus export of this node (every replica's series: attnops_*, Serve's ray_serve_*), relayed
        so that one URL, behind the API token, is the scrape target of a one-node service (docs/monitoring.md)."""
        port = os.environ.get(METRICS_PORT_ENV)
        if not port:
            raise HTTPException(404, f"this service was started without {METRICS_PORT_ENV}; scrape Ray's nodes")
        try:
            async with httpx.AsyncClient() as client:
                exported = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            exported.raise_for_status()
        except httpx.HTTPError as exc:
            return _unavailable(f"this node's Ray metrics export did not answer: {exc}")
        return PlainTextResponse(relay(exported.text), media_type="text/plain; version=0.0.4; charset=utf-8")

    @api.get("/v1/models", response_model=list[ModelStatus])
    async def models(self) -> list[ModelStatus]:
        return await self._statuses()

    @api.post("/v1/models/reload", response_model=list[ModelStatus])
    async def reload(self) -> list[ModelStatus]:
        """Follow the registry aliases now instead of waiting for the next poll (rollout challengers too)."""
        for task, handle in self.challengers.items():
            try:
                await handle.reload.remote()
            except Exception as exc:  # a challenger that cannot load shows in /v1/rollout; the models still reload
                log.warning("the %s challenger did not reload: %s", task, exc)
        return [await handle.reload.remote() for handle in self.models.values()]

    @api.post(
        "/v1/translate",
        dependencies=[Depends(_require_json)],
        response_model=TranslateResponse,
        response_model_exclude_none=True,
    )
    async def translate(self, body: TranslateRequest, request: Request) -> Any:
        """Each sentence's translation; the answer names the model version that gave it. During a rollout a
        share of requests is answered by the candidate; requests with the same ``X-Rollout-Key`` header go to
        the same version."""
        return await self._routed("translation", "translate", body, request)

    async def _routed(self, task: str, method: str, body: Any, request: Request) -> Any:
        """``body`` through the task's rollout split, if one is set, else to the champion."""

        async def champion(item: Any) -> Any:
            return await _call(self.models, task, method, item)

        async def candidate(item: Any) -> Any:
            return await getattr(self.challengers[task], method).remote(item)

        return await self.rollouts.route(task, request.headers.get(STICKY_HEADER), body, champion, candidate)

    @api.get("/v1/rollout", response_model=dict[str, RolloutReport], summary="rollouts: splits and live figures")
    async def rollout(self) -> dict[str, RolloutReport]:
        """Per task that can be rolled out: the split, each version's figures since it last changed, and the
        challenger deployment's status."""
        reports = {}
        for task, handle in self.challengers.items():
            reports[task] = self.rollouts.report(task)
            reports[task].challenger = await _challenger_status(handle)
        return reports

    @api.put("/v1/rollout/{task}", response_model=RolloutReport, summary="set a task's traffic split")
    async def set_split(self, task: str, split: Split) -> RolloutReport:
        """Refused (409) unless the challenger deployment serves ``split.version`` now."""
        handle = self.challengers.get(task)
        if handle is None:
            raise HTTPException(404, f"task: this service runs no challenger for {task!r}")
        status = await _challenger_status(handle)
        served = status.model.version if status and status.model else None
        if served != split.version:
            error = f" ({status.last_error})" if status and status.last_error else ""
            raise HTTPException(
                409, f"version: the challenger serves {served or 'nothing'}, not {split.version}{error}"
            )
        self.rollouts.set(task, split)
        return self.rollouts.report(task)

    @api.delete("/v1/rollout/{task}", response_model=RolloutReport, summary="send all of a task's traffic to @champion")
    async def clear_split(self, task: str) -> RolloutReport:
        report = self.rollouts.report(task)
        self.rollouts.clear(task)
        return report

    @api.post(
        "/v1/classify",
        dependencies=[Depends(_require_json)],
        response_model=ClassifyResponse,
        response_model_exclude_none=True,
    )
    async def classify(self, body: ClassifyRequest, request: Request) -> Any:
        """The label and class probabilities of each document; word and sentence weights on request. During a
        rollout a share of requests is answered by the candidate (as for ``/v1/translate``)."""
        return await self._routed("classification", "classify", body, request)

    @api.post(
        "/v1/summarize",
        dependencies=[Depends(_require_json)],
        response_model=SummarizeResponse,
        response_model_exclude_none=True,
    )
    async def summarize(self, body: SummarizeRequest, request: Request) -> Any:
        """``mode: extractive`` (default): the document's best sentences, in document order, with their scores.
        ``mode: abstractive``: a summary written by the abstractive model, copy probabilities on request; during
        a rollout a share of them is answered by the candidate (as for ``/v1/translate``)."""
        task = "abstractive" if body.mode == "abstractive" else "summarization"
        return await self._routed(task, "summarize", body, request)

    @api.post(
        "/v1/caption",
        response_model=CaptionResponse,
        response_model_exclude_none=True,
        summary="caption a photo: multipart upload (field 'image') or JSON with the file base64-encoded",
        openapi_extra={"requestBody": caption_request_body()},
    )
    async def caption(self, request: Request) -> Any:
        """The photo's caption; with ``return_attention``, each word's attention over the region grid."""
        if "captioning" not in self.models:
            raise HTTPException(404, "this service has no captioning model deployed")
        return await _call(self.models, "captioning", "caption", await _caption_upload(request))

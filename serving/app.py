"""The REST gateway: a FastAPI ingress deployment in front of one model deployment per task.

Its routes are the service's own (probes, models, rollouts, metrics) and those each task's registry entry
describes (:class:`~attnops.pipelines.task.Route`), which :mod:`attnops.serving.build` hands to the deployment at
bind time. The replica builds its app from those records alone (:func:`gateway_api`): its process imports this
module, the named schemas and nothing else of a task, so it loads no model runtime (neither torch nor ONNX
Runtime); it forwards requests to the model deployments by task name.

FastAPI reads the endpoint signatures at runtime, so this module keeps real (not postponed) annotations.
"""

import inspect
import logging
import os
from typing import Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from attnops.pipelines.errors import InputRejected
from attnops.pipelines.task import Route, Service
from attnops.serving.auth import TokenMiddleware, api_token
from attnops.serving.observability.metrics import METRICS_PORT_ENV, relay
from attnops.serving.playground import mount_playground
from attnops.serving.rollout.router import RolloutReport, Rollouts
from attnops.serving.rollout.split import STICKY_HEADER, Split
from attnops.serving.schemas import ModelStatus
from attnops.serving.strict_json import StrictJSONMiddleware

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""Request bodies above this are refused (413), from their Content-Length when they declare one."""


def _require_json(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "send the body as application/json")


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


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


class Forwarder:
    """What the gateway's endpoints share: the model and challenger handles by task, and the rollouts."""

    def __init__(self, models: dict[str, DeploymentHandle], challengers: dict[str, DeploymentHandle]) -> None:
        self.models = models
        """Model deployment handles by task."""
        self.challengers = challengers
        """Challenger deployment handles (``@challenger`` of the same model) by task, for rollouts."""
        self.rollouts = Rollouts()

    async def statuses(self) -> list[ModelStatus]:
        return [await handle.status.remote() for handle in self.models.values()]

    async def routed(self, task: str, method: str, body: Any, request: Request) -> Any:
        """``body`` through the task's rollout split, if one is set, else to the champion."""

        async def champion(item: Any) -> Any:
            return await _call(self.models, task, method, item)

        async def candidate(item: Any) -> Any:
            return await getattr(self.challengers[task], method).remote(item)

        return await self.rollouts.route(task, request.headers.get(STICKY_HEADER), body, champion, candidate)


def gateway_api(
    services: dict[str, Service],
    models: dict[str, DeploymentHandle],
    challengers: dict[str, DeploymentHandle] | None = None,
) -> FastAPI:
    """The gateway's app: the service's own routes, then each path the tasks' ``services`` (by task) route."""
    api = FastAPI(
        title="attnops",
        description="Attention models behind a REST API: translation, document classification, extractive and "
        "abstractive summarization and image captioning; one model deployment per task.",
        version="1",
    )
    api.add_middleware(StrictJSONMiddleware, max_bytes=MAX_UPLOAD_BYTES)
    api.add_middleware(TokenMiddleware)  # outermost: no body is read for a request without the token
    mount_playground(api, services)
    gateway = Forwarder(models, challengers or {})
    _add_service_routes(api, gateway)
    for path, routes in _routes_by_path(services).items():
        _add_task_route(api, gateway, path, routes)
    return api


def _routes_by_path(services: dict[str, Service]) -> dict[str, list[tuple[str, Route]]]:
    """Each path's (task, route) pairs, in registry order; one of them (the default) has no ``when``."""
    paths: dict[str, list[tuple[str, Route]]] = {}
    for task, service in services.items():
        for route in service.routes:
            paths.setdefault(route.path, []).append((task, route))
    for path, routes in paths.items():
        defaults = [task for task, route in routes if route.when is None]
        if len(defaults) != 1:
            raise ValueError(f"{path}: {len(defaults)} tasks route it without 'when' ({defaults}); give exactly one")
    return paths


def _pick(routes: list[tuple[str, Route]], body: Any) -> tuple[str, Route]:
    """The task that answers ``body``: the first whose ``when`` it matches, else the default."""
    for task, route in routes:
        if route.when is not None and getattr(body, route.when[0], None) == route.when[1]:
            return task, route
    return next((task, route) for task, route in routes if route.when is None)


def _add_task_route(api: FastAPI, gateway: Forwarder, path: str, routes: list[tuple[str, Route]]) -> None:
    """``POST path``, documented by its default route; a JSON body unless that route names a ``reader``."""
    task, shown = _pick(routes, None)
    options: dict[str, Any] = {
        "methods": ["POST"],
        "name": shown.method,
        "response_model": shown.response.load(),
        "response_model_exclude_none": True,
        "summary": shown.summary,
        "description": shown.description,
    }
    if shown.reader is not None:
        read = shown.reader.load()

        async def read_and_forward(request: Request) -> Any:
            if task not in gateway.models:
                raise HTTPException(404, f"this service has no {task} model deployed")
            return await gateway.routed(task, shown.method, await read(request), request)

        if shown.request_body is not None:
            options["openapi_extra"] = {"requestBody": shown.request_body.load()()}
        api.add_api_route(path, read_and_forward, **options)
        return

    async def forward(body: Any, request: Request) -> Any:
        picked, route = _pick(routes, body)
        return await gateway.routed(picked, route.method, body, request)

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("body", keyword, annotation=shown.request.load()),
            inspect.Parameter("request", keyword, annotation=Request),
        ]
    )
    api.add_api_route(path, forward, dependencies=[Depends(_require_json)], **options)


def _add_service_routes(api: FastAPI, gateway: Forwarder) -> None:
    """Probes, models, rollouts and metrics: the routes every service has, whatever it serves."""

    @api.get("/healthz", summary="the gateway is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="every deployed model is loaded and answering")
    async def readyz() -> JSONResponse:
        """Ready while every model is loaded; an unreachable registry is reported, not counted against it (the
        loaded versions keep serving, and alias following resumes when the registry is back). With an API token
        set (the probe is open) it names no model and no registry address."""
        statuses = await gateway.statuses()
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
    async def metrics() -> PlainTextResponse:
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
    async def models() -> list[ModelStatus]:
        return await gateway.statuses()

    @api.post("/v1/models/reload", response_model=list[ModelStatus])
    async def reload() -> list[ModelStatus]:
        """Follow the registry aliases now instead of waiting for the next poll (rollout challengers too)."""
        for task, handle in gateway.challengers.items():
            try:
                await handle.reload.remote()
            except Exception as exc:  # a challenger that cannot load shows in /v1/rollout; the models still reload
                log.warning("the %s challenger did not reload: %s", task, exc)
        return [await handle.reload.remote() for handle in gateway.models.values()]

    @api.get("/v1/rollout", response_model=dict[str, RolloutReport], summary="rollouts: splits and live figures")
    async def rollout() -> dict[str, RolloutReport]:
        """Per task that can be rolled out: the split, each version's figures since it last changed, and the
        challenger deployment's status."""
        reports = {}
        for task, handle in gateway.challengers.items():
            reports[task] = gateway.rollouts.report(task)
            reports[task].challenger = await _challenger_status(handle)
        return reports

    @api.put("/v1/rollout/{task}", response_model=RolloutReport, summary="set a task's traffic split")
    async def set_split(task: str, split: Split) -> RolloutReport:
        """Refused (409) unless the challenger deployment serves ``split.version`` now."""
        handle = gateway.challengers.get(task)
        if handle is None:
            raise HTTPException(404, f"task: this service runs no challenger for {task!r}")
        status = await _challenger_status(handle)
        served = status.model.version if status and status.model else None
        if served != split.version:
            error = f" ({status.last_error})" if status and status.last_error else ""
            raise HTTPException(
                409, f"version: the challenger serves {served or 'nothing'}, not {split.version}{error}"
            )
        gateway.rollouts.set(task, split)
        return gateway.rollouts.report(task)

    @api.delete("/v1/rollout/{task}", response_model=RolloutReport, summary="send all of a task's traffic to @champion")
    async def clear_split(task: str) -> RolloutReport:
        report = gateway.rollouts.report(task)
        gateway.rollouts.clear(task)
        return report


@serve.deployment(max_ongoing_requests=512, max_queued_requests=1024)
@serve.ingress()
class Gateway:
    """The ingress deployment: Serve asks its replica for the app (``__serve_build_asgi_app__``) after ``__init__``."""

    def __init__(
        self,
        services: dict[str, Service],
        models: dict[str, DeploymentHandle],
        challengers: dict[str, DeploymentHandle] | None = None,
    ) -> None:
        self.api = gateway_api(services, models, challengers)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return self.api

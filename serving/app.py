"""The REST gateway: a FastAPI ingress deployment in front of one model deployment per task.

``serve run serving/serve_config.yaml`` (or ``attnops serve``) builds it with :func:`build_app`.

FastAPI reads the endpoint signatures at runtime, so this module keeps real (not postponed) annotations.
"""

import os
import secrets
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from serving.schemas import ModelStatus, TranslateRequest, TranslateResponse
from serving.translator import RequestRejected, Translator

TOKEN_ENV = "ATTNOPS_API_TOKEN"
RETRY_AFTER_S = 1

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


@serve.deployment(max_ongoing_requests=512, max_queued_requests=1024)
@serve.ingress(api)
class Gateway:
    def __init__(self, translator: DeploymentHandle) -> None:
        self.translator = translator

    @api.get("/healthz", summary="the gateway is up")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="a model is loaded and answering")
    async def readyz(self) -> JSONResponse:
        status: ModelStatus = await self.translator.status.remote()
        ready = status.model is not None
        return JSONResponse(
            {"ready": ready, "model": status.model and status.model.model_dump()}, 200 if ready else 503
        )

    @api.get("/v1/models", dependencies=[Depends(_authorize)], response_model=list[ModelStatus])
    async def models(self) -> list[ModelStatus]:
        return [await self.translator.status.remote()]

    @api.post("/v1/models/reload", dependencies=[Depends(_authorize)], response_model=list[ModelStatus])
    async def reload(self) -> list[ModelStatus]:
        """Follow the registry alias now instead of waiting for the next poll."""
        return [await self.translator.reload.remote()]

    @api.post(
        "/v1/translate",
        dependencies=[Depends(_authorize), Depends(_require_json)],
        response_model=TranslateResponse,
        response_model_exclude_none=True,
    )
    async def translate(self, body: TranslateRequest) -> Any:
        try:
            return await self.translator.translate.remote(body)
        except BackPressureError:
            return _busy()
        except Exception as exc:
            cause = getattr(exc, "cause", exc)  # Ray wraps a replica's exception; the cause is ours
            if isinstance(cause, RequestRejected):
                raise HTTPException(cause.status, cause.message) from exc
            raise


def application(options: dict[str, dict[str, Any]]) -> serve.Application:
    """The app graph, with per-deployment options (as in the Serve config's ``deployments``)."""
    translator = Translator.options(**options.get("Translator", {})).bind()
    return Gateway.options(**options.get("Gateway", {})).bind(translator)


def build_app(args: dict[str, Any]) -> serve.Application:
    """Serve's application builder (``import_path: serving.app:build_app``); options come from the config."""
    return application({})

"""One Ray instance with Serve on a loopback port for every module that deploys the app; each module deploys its
own app into it (its own store and options) and deletes it when done."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from attnops.pipelines.config import REPO_ROOT
from attnops.serving.server import free_port, start_local_serve

HTTP_OPTIONS = {"host": "127.0.0.1", "request_timeout_s": 30, "keep_alive_timeout_s": 3}
"""Serve's HTTP options are the instance's, not an app's: the slow-client and keep-alive tests of the serving
module set these, and the other modules' requests take well under the timeout."""
APP = "attnops"


@dataclass(frozen=True)
class ServeInstance:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def deployed(
        self, options: dict[str, dict[str, Any]], tasks: tuple[str, ...], env: dict[str, str]
    ) -> Iterator[str]:
        """The app of ``tasks`` deployed with ``options``, ``env`` set in every deployment's replicas (the
        module's tracking URI, a token); yields its URL and deletes the app afterwards."""
        from ray import serve

        from attnops.serving.build import application, deployment_name

        names = {"Gateway", *map(deployment_name, tasks), *options}
        options = {name: _with_env(options.get(name, {}), env) for name in names}
        serve.run(application(options, tasks), name=APP, route_prefix="/")
        try:
            httpx.get(f"{self.url}/healthz", timeout=30).raise_for_status()
            yield self.url
        finally:
            serve.delete(APP)


def _with_env(settings: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    actor = dict(settings.get("ray_actor_options") or {})
    runtime_env = dict(actor.get("runtime_env") or {})
    runtime_env["env_vars"] = {**env, **(runtime_env.get("env_vars") or {})}
    return {**settings, "ray_actor_options": {**actor, "runtime_env": runtime_env}}


@contextmanager
def serve_instance() -> Iterator[ServeInstance]:
    """Ray (two CPUs, as the machine has) and Serve, stopped afterwards."""
    import ray
    from ray import serve

    port = free_port()
    with pytest.MonkeyPatch.context() as env:
        # A deleted app's gateway port goes straight back to Serve's pool, so the next module's gateway answers
        # on the instance's port (the quarantine, 150 s by default, is there for HAProxy, which is not used).
        env.setenv("RAY_SERVE_PORT_QUARANTINE_S", "0")
        start_local_serve(
            {**HTTP_OPTIONS, "port": port},
            {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO_ROOT)},  # replicas import this checkout
            num_cpus=2,
        )
    try:
        yield ServeInstance(port)
    finally:
        serve.shutdown()
        ray.shutdown()

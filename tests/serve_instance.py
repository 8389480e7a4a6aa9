"""One Ray instance with Serve on a loopback port for every module that deploys the app; each module deploys its
own app into it (its own store and options) and deletes it when done."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from attnops.pipelines.config import REPO_ROOT
from attnops.serving.server import GATEWAY_PORTS, free_port, start_local_serve

HTTP_OPTIONS = {"host": "127.0.0.1", "request_timeout_s": 30, "keep_alive_timeout_s": 3}
"""Serve's HTTP options are the instance's, not an app's: the slow-client and keep-alive tests of the serving
module set these, and the other modules' requests take well under the timeout."""
APP = "attnops"


@dataclass(frozen=True)
class ServeInstance:
    port: int

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
            yield self._gateway_url()
        finally:
            serve.delete(APP)

    def _gateway_url(self) -> str:
        """Where the app's gateway answers. With direct ingress it takes a port of the instance's range: the
        first unless Serve still holds that one for a deleted app's gateway (a freed port waits in quarantine,
        or is blocked while the operating system still holds it)."""
        for port in range(self.port, self.port + GATEWAY_PORTS):
            url = f"http://127.0.0.1:{port}"
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return url
            except httpx.HTTPError:
                continue
        raise RuntimeError(f"no gateway answers /healthz on ports {self.port}-{self.port + GATEWAY_PORTS - 1}")


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

"""The Serve config for a Ray cluster, derived from ``serving/serve_config.yaml`` (the one source of truth).

A cluster differs from ``attnops serve`` only in where the HTTP proxy listens, which tracking server the
replicas read the registry from, and (optionally) which tasks are deployed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serving.server import DEFAULT_CONFIG, read_serve_config


def cluster_serve_config(
    tracking_uri: str,
    host: str,
    port: int | None = None,
    tasks: tuple[str, ...] | None = None,
    source: Path = DEFAULT_CONFIG,
) -> dict[str, Any]:
    """The Serve config of ``source`` with the proxy on ``host:port``, replicas tracking ``tracking_uri``
    and, if ``tasks`` is given, only those tasks' deployments (plus the gateway)."""
    config = read_serve_config(source)
    config["http_options"] = {**config.get("http_options", {}), "host": host}
    if port is not None:
        config["http_options"]["port"] = port
    (app,) = config["applications"]
    env = app.setdefault("runtime_env", {}).setdefault("env_vars", {})
    env.update({"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true"})
    if tasks is not None:
        from pipelines.tasks import TASKS

        unknown = sorted(set(tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; known: {', '.join(TASKS)}")
        keep = {"Gateway", *(TASKS[task].deployment for task in tasks)}
        app["args"] = {**app.get("args", {}), "tasks": list(tasks)}
        app["deployments"] = [d for d in app.get("deployments", []) if d["name"] in keep]
    return config

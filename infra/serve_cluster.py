"""The Serve config for a Ray cluster, derived from ``serving/serve_config.yaml`` (the one source of truth).

A cluster differs from ``attnops serve`` only in where the HTTP proxy listens, which tracking server the
replicas read the registry from, and (optionally) which tasks are deployed. No secret goes into it: Ray's
dashboard shows the config to whoever holds the Ray token; the API token and MLflow's credentials reach the
replicas from the environment of the cluster's nodes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from attnops.pipelines.errors import UserError
from attnops.serving.server import DEFAULT_CONFIG, read_serve_config

_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*@")


def cluster_serve_config(
    tracking_uri: str,
    host: str,
    port: int | None = None,
    tasks: tuple[str, ...] | None = None,
    source: Path = DEFAULT_CONFIG,
    deployment_options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Serve config of ``source`` with the proxy on ``host:port``, replicas tracking ``tracking_uri``,
    if ``tasks`` is given only those tasks' deployments (plus the gateway), and ``deployment_options``
    (by deployment name, e.g. ``{"Translator": {"autoscaling_config": {"max_replicas": 3}}}``) merged
    over each deployment's options, one level deep."""
    if _USERINFO.match(tracking_uri):
        raise UserError(
            "the tracking URI holds credentials, which Ray's dashboard would show with the Serve config: give "
            "them to the cluster's nodes as MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
        )
    config = read_serve_config(source)
    config["http_options"] = {**config.get("http_options", {}), "host": host}
    if port is not None:
        config["http_options"]["port"] = port
    (app,) = config["applications"]
    env = app.setdefault("runtime_env", {}).setdefault("env_vars", {})
    env.update({"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true"})
    if tasks is not None:
        from attnops.pipelines.tasks import TASKS
        from attnops.serving.build import deployment_name

        unknown = sorted(set(tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; known: {', '.join(TASKS)}")
        keep = {"Gateway", *(deployment_name(task) for task in tasks)}
        app["args"] = {**app.get("args", {}), "tasks": list(tasks)}
        app["deployments"] = [d for d in app.get("deployments", []) if d["name"] in keep]
    if deployment_options:
        _merge_options(app["deployments"], deployment_options)
    return config


def _merge_options(deployments: list[dict[str, Any]], options: dict[str, dict[str, Any]]) -> None:
    by_name = {d["name"]: d for d in deployments}
    unknown = sorted(set(options) - set(by_name))
    if unknown:
        raise ValueError(f"deployment_options names {unknown}, which this config lacks; deployed: {', '.join(by_name)}")
    for name, changes in options.items():
        for key, value in changes.items():
            current = by_name[name].get(key)
            merge = isinstance(current, dict) and isinstance(value, dict)
            by_name[name][key] = {**current, **value} if merge else value

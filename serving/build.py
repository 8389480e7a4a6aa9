"""The Serve application: the gateway (:mod:`attnops.serving.app`) and one model deployment per task.

``serve run serving/serve_config.yaml`` (or ``attnops serve``) builds it with :func:`build_app`. Everything task
specific comes from the registry: each task's :class:`~attnops.pipelines.task.Service` names its deployment, its
class and the gateway's routes to it. This module reads the registry; the gateway's process never imports it.
"""

from __future__ import annotations

import logging
from typing import Any

from ray import serve

from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import CHALLENGER_ALIAS
from attnops.pipelines.task import Service
from attnops.pipelines.tasks import TASKS, all_tasks, task_named
from attnops.serving.app import Gateway
from attnops.serving.one_hop import ModelGateway
from attnops.serving.rollout.probes import PROBES

log = logging.getLogger(__name__)


def service(task: str) -> Service:
    """How ``task`` is served; ValueError for a task that is not served over REST."""
    served = task_named(task).service
    if served is None:
        raise ValueError(f"task {task!r} is not served over REST")
    return served


def deployment_name(task: str) -> str:
    """The Serve deployment that serves ``task`` (its name in the Serve config)."""
    return service(task).deployment


def services() -> dict[str, Service]:
    """Every served task's :class:`Service`, by task, in registry order: the gateway routes to each of them."""
    return {name: task.service for name, task in all_tasks().items() if task.service is not None}


def application(
    options: dict[str, dict[str, Any]], tasks: tuple[str, ...] = ("translation",), one_hop: bool = False
) -> serve.Application:
    """The app graph: the gateway and one model deployment per task in ``tasks``, with per-deployment
    options (as in the Serve config's ``deployments``). With ``one_hop`` (one task only) the gateway runs
    the model replica in its own process (:mod:`attnops.serving.one_hop`) with the model deployment's options."""
    from attnops.serving.settings import default_model_uri

    if one_hop and len(tasks) != 1:
        raise UserError(f"one_hop serves a single task; this service has {len(tasks)}: {', '.join(tasks)}")
    models, challengers, gateway = {}, {}, options.get("Gateway", {})
    for task in tasks:
        name = deployment_name(task)
        settings = options.get(name, {})
        # A deployment class may serve several tasks (documents): say which, and what it serves by default.
        user_config = {"model_uri": default_model_uri(task), **(settings.get("user_config") or {}), "task": task}
        replica = service(task).replica.load()
        if one_hop:
            gateway = _one_hop_options(gateway, settings, user_config, task)
        else:
            models[task] = replica.options(name=name, **{**settings, "user_config": user_config}).bind()
        uri = challenger_uri(user_config["model_uri"])
        if task in PROBES and uri is not None:
            name, settings = f"{name}Challenger", options.get(f"{name}Challenger", _one_replica(settings))
            user_config = {**user_config, **(settings.get("user_config") or {}), "model_uri": uri, "optional": True}
            challengers[task] = replica.options(name=name, **{**settings, "user_config": user_config}).bind()
    if one_hop:
        (task,) = tasks
        return ModelGateway.options(name="Gateway", **gateway).bind(service(task), task, challengers)
    return Gateway.options(**gateway).bind(services(), models, challengers)


def _one_hop_options(
    gateway: dict[str, Any], model: dict[str, Any], user_config: dict[str, Any], task: str
) -> dict[str, Any]:
    """The one-hop gateway's options: the model deployment's over the gateway's (``ray_actor_options`` key by
    key), on one replica: that replica serves HTTP on the service's port itself, and a second would get no traffic."""
    if model.get("autoscaling_config") or model.get("num_replicas", 1) != 1:
        log.warning(
            "one_hop runs one replica of the %s model: its num_replicas and autoscaling_config are unused", task
        )
    kept = {key: value for key, value in model.items() if key not in ("autoscaling_config", "num_replicas")}
    actor = {**(gateway.get("ray_actor_options") or {}), **(model.get("ray_actor_options") or {})}
    return {**gateway, **kept, "num_replicas": 1, "ray_actor_options": actor, "user_config": user_config}


def challenger_uri(uri: str) -> str | None:
    """``models:/NAME@challenger`` (:data:`CHALLENGER_ALIAS`) for a deployment that follows an alias of NAME;
    None for one that serves a fixed version."""
    name, sep, _ = uri.removeprefix("models:/").rpartition("@")
    return f"models:/{name}@{CHALLENGER_ALIAS}" if uri.startswith("models:/") and sep else None


def _one_replica(settings: dict[str, Any]) -> dict[str, Any]:
    """A challenger's options, unless the config names them: the champion's, on one replica that reserves no
    CPU (it idles outside rollouts, and a reservation would hold a core for nothing)."""
    actor = {**(settings.get("ray_actor_options") or {}), "num_cpus": 0}
    kept = {key: value for key, value in settings.items() if key != "autoscaling_config"}
    return {**kept, "num_replicas": 1, "ray_actor_options": actor}


def build_app(args: dict[str, Any]) -> serve.Application:
    """Serve's application builder (``import_path: attnops.serving.build:build_app``); ``args.tasks`` picks the
    model deployments (default: translation), ``args.one_hop`` runs a single task's model in the gateway's
    process; their options come from the config."""
    tasks = tuple(args.get("tasks") or ("translation",))
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown tasks {unknown} in the app's args; known: {', '.join(TASKS)}")
    return application({}, tasks, one_hop=bool(args.get("one_hop", False)))

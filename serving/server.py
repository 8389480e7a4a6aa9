"""``attnops serve``: start Ray and the Serve app from the Serve config, run until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import yaml

from attnops.pipelines.errors import UserError
from attnops.pipelines.tracking import DEFAULT_TRACKING_URI
from attnops.serving.observability.metrics import METRICS_PORT_ENV

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).with_name("serve_config.yaml")
RAY_SERVE_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2"}
"""Ray Serve switches for every Ray process of the service; a value already in the environment wins. Ray reads
them at import, so they are set before Ray starts. Throughput-optimized Serve runs user code and the router on
each replica's event loop (decoding stays in worker threads), calls deployments over gRPC, buffers request
logs, and lets the ingress replica answer HTTP itself (direct ingress): docs/serving.md has what each gave.
An ingress replica then drains for 30 s before it stops, for a cloud load balancer to notice; on one machine
nothing needs that long, and a stop takes 2 s plus the requests in flight."""
GATEWAY_PORTS = 16
"""Ports from the service's own, one per gateway replica on this machine (direct ingress)."""


def ray_serve_env() -> dict[str, str]:
    """:data:`RAY_SERVE_ENV`, with the values the environment already sets."""
    return {key: os.environ.get(key, value) for key, value in RAY_SERVE_ENV.items()}


def direct_ingress(env: dict[str, str]) -> bool:
    """Whether Ray Serve started with ``env`` lets the ingress replica serve HTTP itself (Ray's own rule)."""
    if env.get("RAY_SERVE_ENABLE_DIRECT_INGRESS") is not None:
        return env["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "1"
    return env.get("RAY_SERVE_THROUGHPUT_OPTIMIZED", "0").lower() in ("1", "true")


def start_local_serve(http: dict[str, Any], env_vars: dict[str, str], **ray_init: Any) -> None:
    """Ray on this machine, then Serve, the gateway answering HTTP on ``http["port"]`` (default 8000).

    With direct ingress the gateway replica runs its own HTTP server on that port, and Ray's Python proxy,
    which would otherwise relay every request, moves to a free loopback port: a ``/healthz`` took 0.7 ms
    from the replica against 8.6 ms through the proxy on the 2-core reference machine. Without it (e.g.
    ``RAY_SERVE_THROUGHPUT_OPTIMIZED=0``) the proxy takes the port, as Serve does by default.
    Ray's metrics export takes another free loopback port, which the gateway's ``/metrics`` relays.
    ``env_vars`` reach every replica; ``ray_init`` goes to :func:`ray.init`."""
    import ray
    from ray import serve

    port = int(http.get("port", 8000))
    metrics_port = free_port()
    env_vars = {**env_vars, METRICS_PORT_ENV: str(metrics_port)}
    env = ray_serve_env()
    if direct_ingress({**os.environ, **env}):
        env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] = str(port)
        env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] = str(port + GATEWAY_PORTS - 1)
        http = {**http, "port": free_port()}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the processes ray.init starts inherit them; this one keeps its own
    try:
        ray.init(
            include_dashboard=False,
            runtime_env={"env_vars": env_vars},
            _metrics_export_port=metrics_port,
            **ray_init,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    serve.start(http_options=http)


def read_serve_config(path: Path) -> dict[str, Any]:
    """The Serve config YAML (the same file ``serve run`` takes), checked for what we rely on."""
    if not path.is_file():
        raise UserError(f"serve config not found: {path}")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"serve config {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    apps = (config or {}).get("applications") or []
    if len(apps) != 1:
        raise UserError(f"serve config {path} must define exactly one application")
    return config


def deployment_options(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-deployment options of the application, keyed by deployment name."""
    return {
        entry["name"]: {key: value for key, value in entry.items() if key != "name"}
        for entry in config["applications"][0].get("deployments", [])
    }


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def absolute_tracking_uri(uri: str) -> str:
    """Replicas run in other folders: a relative SQLite path becomes absolute."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri.removeprefix(prefix)).resolve())
    return uri


def served_tasks(config: dict[str, Any], options: dict[str, dict[str, Any]], model_uris: list[str]) -> tuple[str, ...]:
    """The tasks to deploy: those of ``model_uris`` (which then set their deployment's ``model_uri``),
    else those of the application's ``args.tasks`` (default translation) whose registry model exists,
    saying at once which were skipped and why."""
    from attnops.pipelines.inference.resolve import resolve
    from attnops.serving.build import deployment_name

    if not model_uris:
        return _available_tasks(config["applications"][0].get("args", {}).get("tasks") or ("translation",), options)
    tasks = []
    for uri in model_uris:
        task = resolve(uri).bundle.config.task
        if task in tasks:
            raise UserError(f"two --model URIs of the same task ({task}); give one per task")
        tasks.append(task)
        entry = options.setdefault(deployment_name(task), {})
        entry["user_config"] = {**entry.get("user_config", {}), "model_uri": uri}
    return tuple(tasks)


def _available_tasks(tasks: list[str], options: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """``tasks`` less those whose configured registry model (``user_config.model_uri``) does not exist."""
    from attnops.pipelines.inference.resolve import current_version
    from attnops.serving.build import deployment_name
    from attnops.serving.settings import default_model_uri

    available, skipped = [], []
    for task in tasks:
        uri = (options.get(deployment_name(task), {}).get("user_config") or {}).get("model_uri")
        uri = uri or default_model_uri(task)
        try:
            current_version(uri)
            available.append(task)
        except UserError as exc:
            skipped.append(f"{task} ({uri}: {exc})")
    if skipped:
        print(f"skipping {len(skipped)} of {len(tasks)} tasks without a model: {'; '.join(skipped)}", flush=True)
    if not available:
        raise UserError("no task has a model to serve; train, register and promote one, or pass --model URI")
    return tuple(available)


def check_bind(host: str) -> None:
    """Refuse to bind beyond loopback unless the API token is set (raises :class:`UserError`)."""
    from attnops.serving.auth import TOKEN_ENV, api_token, is_loopback

    if not is_loopback(host) and api_token() is None:
        raise UserError(f"refusing to serve on {host} without an API token: set {TOKEN_ENV}, or bind 127.0.0.1")


def run_service(
    config_path: Path,
    port: int | None,
    model_uris: list[str] | None = None,
    host: str | None = None,
    one_hop: bool = False,
) -> None:
    """Start a local Ray, deploy the app on ``host`` (default: the config's, else 127.0.0.1), block until a
    signal. A host beyond loopback needs the API token. ``one_hop`` (or the config's ``args.one_hop``) runs a
    single task's model in the gateway's process."""
    import ray
    from ray import serve

    from attnops.serving.build import application

    config = read_serve_config(config_path)
    http = {**config.get("http_options", {}), **({"port": port} if port else {}), **({"host": host} if host else {})}
    http.setdefault("host", "127.0.0.1")
    check_bind(http["host"])
    options = deployment_options(config)
    tasks = served_tasks(config, options, model_uris or [])
    env = {key: os.environ[key] for key in ("ATTNOPS_API_TOKEN",) if key in os.environ}
    env["MLFLOW_TRACKING_URI"] = absolute_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
    stop = threading.Event()
    start_local_serve(http, {**env, "MLFLOW_DISABLE_TELEMETRY": "true"})
    for signum in (signal.SIGINT, signal.SIGTERM):  # after ray.init, whose crash handler would abort on SIGTERM
        signal.signal(signum, lambda *_: stop.set())
    try:
        app = config["applications"][0]
        name = app.get("name", "attnops")
        one_hop = one_hop or bool(app.get("args", {}).get("one_hop", False))
        try:
            serve.run(application(options, tasks, one_hop), name=name, route_prefix=app.get("route_prefix", "/"))
        except RuntimeError as exc:
            raise UserError(f"the service did not start: {_deployment_error(name) or exc}") from exc
        url = f"http://{http['host']}:{http.get('port', 8000)}"
        print(f"attnops serving on {url} (API docs at {url}/docs); Ctrl-C stops it", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        log.info("shutting down")
        serve.shutdown()
        ray.shutdown()


def _deployment_error(app: str) -> str | None:
    """Why a deployment of ``app`` failed to start: the last line of its error (e.g. an unresolvable URI)."""
    from ray import serve

    status = serve.status().applications.get(app)
    for deployment in status.deployments.values() if status else []:
        lines = [line.strip() for line in (deployment.message or "").splitlines() if line.strip()]
        if lines and deployment.status in ("DEPLOY_FAILED", "UNHEALTHY"):
            return lines[-1].removeprefix("attnops.pipelines.errors.UserError: ")
    return None


def reload_running_service(port: int) -> str:
    """Ask the service on 127.0.0.1:``port`` to follow its registry alias now; returns its answer."""
    import httpx

    from attnops.serving.auth import client_headers

    try:
        response = httpx.post(f"http://127.0.0.1:{port}/v1/models/reload", headers=client_headers(), timeout=120)
    except httpx.HTTPError as exc:
        raise UserError(f"no attnops service answers on 127.0.0.1:{port}: {exc}") from exc
    if response.status_code != 200:
        raise UserError(f"reload failed with HTTP {response.status_code}: {response.text}")
    return response.text

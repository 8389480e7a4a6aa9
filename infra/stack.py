"""The production topology as local processes: MLflow on PostgreSQL, a two-node Ray cluster, the Serve app.

``up`` creates the MLflow database if it is missing (MLflow creates and migrates its schema), starts
``mlflow server`` on it, ``ray start --head`` and one ``ray start --address`` worker node on loopback
(Ray's files under a private temp dir, so no other ``ray.init()`` on the machine attaches to this cluster),
and records what it started in ``state.json`` of the stack folder. ``deploy`` is ``serve deploy`` of the
Serve config; ``down`` stops every process the stack started, by process id, and nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from attnops.infra.serve_cluster import cluster_serve_config
from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.errors import UserError
from attnops.pipelines.redact import redact
from attnops.serving.server import free_port

log = logging.getLogger(__name__)

STACK_DIR_ENV = "ATTNOPS_STACK_DIR"
POSTGRES_ENV = "ATTNOPS_POSTGRES_URI"
DEFAULT_POSTGRES = "postgresql://127.0.0.1:5432/postgres"
"""The server's maintenance database: where ``CREATE DATABASE`` runs (trust auth as the current user)."""
DEFAULT_DATABASE = "attnops_mlflow"
INFERENCE_LOG_DATABASE = "attnops_inference"
"""Where the stack's Translator writes its inference log (a table in this PostgreSQL database)."""
PROMETHEUS_CONFIG = REPO_ROOT / "infra/monitoring/prometheus.yml"


def stack_dir() -> Path:
    """Where the stack keeps its state, logs and artifacts: $ATTNOPS_STACK_DIR, else ``.stack/`` in the working
    directory (never inside the installed package)."""
    return Path(os.environ.get(STACK_DIR_ENV) or ".stack").resolve()


@dataclass
class StackState:
    """What ``up`` started: ports, process ids and folders, saved as ``state.json``."""

    database_uri: str
    mlflow_port: int
    mlflow_pid: int
    ray_port: int
    dashboard_port: int
    serve_port: int
    ray_temp_dir: str
    artifacts: str
    deployed: list[str] = field(default_factory=list)
    inference_log_uri: str = ""
    metrics_ports: list[int] = field(default_factory=list)
    """Each Ray node's metrics export, on 127.0.0.1 (``prometheus.yml`` in the stack folder scrapes them)."""

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def ray_address(self) -> str:
        """The cluster's address for a driver (``RAY_ADDRESS``)."""
        return f"127.0.0.1:{self.ray_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    def save(self, folder: Path) -> None:
        """Write ``state.json``, readable by its owner only: the database URI may hold a password."""
        path = folder / "state.json"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> StackState | None:
        path = folder / "state.json"
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def database_uri(admin_uri: str, database: str) -> str:
    """``admin_uri`` with its database replaced by ``database``."""
    from sqlalchemy.engine import make_url

    return make_url(admin_uri).set(database=database).render_as_string(hide_password=False)


def create_database(admin_uri: str, database: str) -> str:
    """Create ``database`` on the server of ``admin_uri`` unless it exists; return its URI.

    The one set-up step MLflow needs; equivalent to ``createdb -h 127.0.0.1 attnops_mlflow``.
    """
    import psycopg
    from psycopg import sql

    try:
        connection = psycopg.connect(admin_uri, autocommit=True)  # CREATE DATABASE cannot run in a transaction
    except psycopg.OperationalError as exc:
        raise UserError(f"cannot reach PostgreSQL at {admin_uri}: {str(exc).strip()}") from exc
    with connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return database_uri(admin_uri, database)


def drop_database(admin_uri: str, database: str) -> None:
    """Drop ``database`` (closing its remaining connections first)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _env() -> dict[str, str]:
    """The environment of every stack process (this environment's ``attnops`` package), no telemetry."""
    return {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_DATASETS_OFFLINE": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        # Every node, `serve deploy` and the replicas use the token Ray keeps in ~/.ray/auth_token.
        "RAY_AUTH_MODE": "token",
    }


def _auth_token() -> str | None:
    """Ray's token, from where Ray documents it ($RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if not token and path.is_file():
        token = path.read_text().strip()
    return token or None


def _dashboard_headers() -> dict[str, str]:
    """The bearer token Ray's dashboard wants."""
    token = _auth_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _dashboard_get(state: StackState, path: str) -> dict:
    response = httpx.get(f"{state.dashboard}{path}", headers=_dashboard_headers(), timeout=10)
    response.raise_for_status()
    return response.json()


def start_mlflow(backend_uri: str, artifacts: Path, log_path: Path, port: int, workers: int = 2) -> subprocess.Popen:
    """``mlflow server`` on 127.0.0.1:``port`` with ``backend_uri`` and proxied artifacts in ``artifacts``;
    returns once ``/health`` answers."""
    command = [
        _bin("mlflow"), "server",
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    # The store URI (with its password, if any) goes by environment, not on the command line others can read.
    env = {**_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_BACKEND_STORE_URI": backend_uri}
    with open(log_path, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/health"
    if not _wait(lambda: process.poll() is not None or _ok(url), timeout=180) or process.poll() is not None:
        stop_tree(process.pid)
        raise UserError(f"mlflow server did not start; see {log_path}: {_tail(log_path)}")
    return process


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(ready, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(interval)
    return False


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.is_file() else []
    return " | ".join(text[-lines:])


def _ray(args: list[str], log_path: Path) -> None:
    with open(log_path, "ab") as out:
        done = subprocess.run([_bin("ray"), *args], stdout=out, stderr=subprocess.STDOUT, env=_env(), timeout=300)
    if done.returncode != 0:
        raise UserError(f"'ray {args[0]}' failed; see {log_path}: {_tail(log_path)}")


def _ensure_auth_token() -> None:
    """Ray's token for the stack's token authentication, made in ~/.ray/auth_token if none exists yet (a fresh
    machine has none until something runs Ray)."""
    if _auth_token() is None:
        generate = [_bin("ray"), "get-auth-token", "--generate"]
        subprocess.run(generate, capture_output=True, env=_env(), timeout=60, check=True)


def start_ray(
    temp_dir: Path, port: int, dashboard_port: int, log_path: Path, metrics_ports: list[int], cpus_per_node: int = 1
) -> None:
    """A head node (scheduler, dashboard, Serve controller and proxy) and one worker node on loopback, each
    exporting its metrics on its port of ``metrics_ports``."""

    def node_options(metrics_port: int) -> list[str]:
        # Two nodes on one host: each needs its own agent and metrics ports (Ray's defaults are fixed).
        return [
            "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node), "--disable-usage-stats",
            "--temp-dir", str(temp_dir), "--dashboard-agent-listen-port", str(free_port()),
            "--metrics-export-port", str(metrics_port),
        ]  # fmt: skip

    head_port, worker_port = metrics_ports
    _ensure_auth_token()
    head = ["--head", "--port", str(port), "--ray-client-server-port", str(free_port())]
    dashboard = ["--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard_port)]
    _ray(["start", *head, *dashboard, *node_options(head_port)], log_path)
    _ray(["start", "--address", f"127.0.0.1:{port}", *node_options(worker_port)], log_path)


def write_prometheus_config(path: Path, metrics_ports: list[int]) -> Path:
    """The repository's scrape config with the stack's nodes as targets: ``prometheus --config.file=PATH``."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for port in metrics_ports]}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def ray_processes(temp_dir: str) -> list[psutil.Process]:
    """Every process of the Ray cluster whose files live in ``temp_dir``, with all their descendants."""
    roots = []
    for process in psutil.process_iter(["cmdline"]):
        if any(temp_dir in part for part in process.info["cmdline"] or []):
            roots.append(process)
    found = {p.pid: p for p in roots}
    for root in roots:
        try:
            found.update({child.pid: child for child in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
    return list(found.values())


def stop_processes(processes: list[psutil.Process], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL whatever is still there after ``timeout`` seconds."""
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def stop_tree(pid: int) -> None:
    """Stop process ``pid`` and all its descendants."""
    try:
        root = psutil.Process(pid)
        stop_processes([*root.children(recursive=True), root])
    except psutil.NoSuchProcess:
        pass


def up(admin_uri: str | None = None, database: str = DEFAULT_DATABASE, folder: Path | None = None) -> StackState:
    """Start PostgreSQL-backed MLflow and the two-node Ray cluster; return (and save) what was started."""
    folder = folder or stack_dir()
    if (state := StackState.load(folder)) is not None:
        raise UserError(f"a stack is already up (state in {folder}); run 'attnops stack down' first")
    folder.mkdir(parents=True, exist_ok=True)
    admin_uri = admin_uri or os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES
    backend = create_database(admin_uri, database)
    inference_log = create_database(admin_uri, INFERENCE_LOG_DATABASE)
    artifacts = folder / "artifacts"
    artifacts.mkdir(exist_ok=True)
    mlflow_port, ray_port, dashboard_port, serve_port = (free_port() for _ in range(4))
    mlflow = start_mlflow(backend, artifacts, folder / "mlflow.log", mlflow_port)
    temp_dir = tempfile.mkdtemp(prefix="attnops-ray-")  # short: Ray's socket paths must fit in 107 bytes
    state = StackState(backend, mlflow_port, mlflow.pid, ray_port, dashboard_port, serve_port, temp_dir, str(artifacts))
    state.inference_log_uri, state.metrics_ports = inference_log, [free_port(), free_port()]
    state.save(folder)  # before Ray starts, so a failed start can still be brought down
    write_prometheus_config(folder / "prometheus.yml", state.metrics_ports)
    try:
        start_ray(Path(temp_dir), ray_port, dashboard_port, folder / "ray.log", state.metrics_ports)
    except Exception:
        down(folder)
        raise
    return state


def deploy(
    state: StackState,
    tasks: tuple[str, ...] = ("translation",),
    folder: Path | None = None,
    deployment_options: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """``serve deploy`` of the Serve config (``tasks`` only, ``deployment_options`` merged in, see
    :func:`cluster_serve_config`) to the stack's cluster; returns the derived config file once the app
    answers ``/readyz`` and Serve reports every deployment healthy."""
    folder = folder or stack_dir()
    if "translation" in tasks and state.inference_log_uri:
        logged = {"Translator": {"user_config": {"inference_log": {"store": state.inference_log_uri}}}}
        deployment_options = _merged(logged, deployment_options or {})
    path = deploy_config(
        folder, state.dashboard, state.tracking_uri, "127.0.0.1", state.serve_port, tasks, deployment_options
    )

    def ready() -> bool:  # /readyz answers once its models load; Serve may still be starting other replicas
        return _ok(f"{state.serve_url}/readyz") and all(row.healthy for row in _serve(state))

    if not _wait(ready, timeout=300, interval=2):
        raise UserError(f"the Serve app did not become ready at {state.serve_url}; see 'attnops stack status'")
    state.deployed = list(tasks)
    state.save(folder)
    return path


def _merged(first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployment options of ``second`` over ``first``, deployment by deployment; option values that are both
    dicts (``user_config``) merged key by key."""
    merged = {name: dict(options) for name, options in first.items()}
    for name, options in second.items():
        target = merged.setdefault(name, {})
        for key, value in options.items():
            current = target.get(key)
            target[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def deploy_config(
    folder: Path,
    dashboard: str,
    tracking_uri: str,
    host: str,
    port: int | None,
    tasks: tuple[str, ...],
    deployment_options: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write the cluster's Serve config to ``folder`` and hand it to Ray's own ``serve deploy`` for the
    cluster behind ``dashboard``; returns the written config."""
    path = folder / "serve_config.yaml"
    config = cluster_serve_config(tracking_uri, host, port, tasks, deployment_options=deployment_options)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log_path = folder / "serve.log"
    for _ in range(2):  # Serve starts its controller and proxy on the first deploy; a slow host can time that out
        with open(log_path, "ab") as out:
            done = subprocess.run(
                [_bin("serve"), "deploy", str(path), "--address", dashboard],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
                timeout=300,
            )
        if done.returncode == 0:
            break
    if done.returncode != 0:
        raise UserError(f"'serve deploy' failed; see {log_path}: {_tail(log_path)}")
    return path


def down(folder: Path | None = None) -> list[int]:
    """Stop every process of the stack (Ray nodes and their workers, then MLflow); return their ids.

    The database and the artifacts stay, so the next ``up`` finds its runs and models again.
    """
    folder = folder or stack_dir()
    state = StackState.load(folder)
    if state is None:
        return []
    processes = ray_processes(state.ray_temp_dir)
    try:
        mlflow = psutil.Process(state.mlflow_pid)
        processes += [*mlflow.children(recursive=True), mlflow]
    except psutil.NoSuchProcess:
        pass
    stop_processes(processes)
    shutil.rmtree(state.ray_temp_dir, ignore_errors=True)
    (folder / "state.json").unlink()
    return sorted(p.pid for p in processes)


@dataclass
class ComponentStatus:
    name: str
    healthy: bool
    detail: str


def status(folder: Path | None = None) -> list[ComponentStatus]:
    """The health of each component: PostgreSQL, MLflow, the Ray nodes, the Serve app and its deployments."""
    state = StackState.load(folder or stack_dir())
    if state is None:
        raise UserError("no stack is up; start one with 'attnops stack up'")
    return [_postgres(state), _mlflow(state), _ray_nodes(state), *_serve(state)]


def _postgres(state: StackState) -> ComponentStatus:
    import psycopg

    try:
        psycopg.connect(state.database_uri, connect_timeout=5).close()
        return ComponentStatus("postgresql", True, redact(state.database_uri))
    except psycopg.OperationalError as exc:
        return ComponentStatus("postgresql", False, str(exc).strip())


def _mlflow(state: StackState) -> ComponentStatus:
    healthy = _ok(f"{state.tracking_uri}/health")
    return ComponentStatus("mlflow", healthy, f"{state.tracking_uri} (pid {state.mlflow_pid})")


def _ray_nodes(state: StackState) -> ComponentStatus:
    try:
        nodes = _dashboard_get(state, "/nodes?view=summary")["data"]["summary"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        return ComponentStatus("ray", False, f"dashboard {state.dashboard} does not answer: {exc}")
    alive = [n for n in nodes if n.get("raylet", {}).get("state") == "ALIVE"]
    return ComponentStatus("ray", len(alive) >= 2, f"{len(alive)} nodes alive, head 127.0.0.1:{state.ray_port}")


def deployment_details(state: StackState, deployment: str, app: str = "attnops") -> dict[str, Any]:
    """Ray's details of one deployment: ``status``, ``target_num_replicas``, ``replicas`` (each with
    ``replica_id``, ``state``, ``pid``, ``node_id`` …); empty when it is not deployed."""
    details = _dashboard_get(state, "/api/serve/applications/")
    return (details.get("applications") or {}).get(app, {}).get("deployments", {}).get(deployment, {})


def running_replicas(state: StackState, deployment: str, app: str = "attnops") -> list[dict[str, Any]]:
    """The RUNNING replicas of ``deployment``."""
    return [r for r in deployment_details(state, deployment, app).get("replicas", []) if r.get("state") == "RUNNING"]


def _serve(state: StackState) -> list[ComponentStatus]:
    try:
        details = _dashboard_get(state, "/api/serve/applications/")
    except (httpx.HTTPError, ValueError) as exc:
        return [ComponentStatus("serve", False, f"no answer from {state.dashboard}: {exc}")]
    apps = details.get("applications") or {}
    if not apps:
        return [ComponentStatus("serve", False, "no application deployed; run 'attnops stack deploy'")]
    rows = []
    for name, app in apps.items():
        rows.append(ComponentStatus(f"serve:{name}", app["status"] == "RUNNING", f"{app['status']} {state.serve_url}"))
        for deployment, info in app.get("deployments", {}).items():
            replicas = [r for r in info.get("replicas", []) if r.get("state") == "RUNNING"]
            detail = f"{info['status']}, target {info.get('target_num_replicas')}, {len(replicas)} running replicas"
            rows.append(ComponentStatus(f"  {deployment}", info["status"] == "HEALTHY", detail))
    return rows

"""Faults beyond one process, injected for real and measured; prints figures (docs/hardening.md cites them).

    python -m attnops.benchmarks.faults tracking-training    # the tracking server SIGKILLed for 30 s mid-training
    python -m attnops.benchmarks.faults tracking-gone        # ... and never started again: how to resume
    python -m attnops.benchmarks.faults tracking-promotion   # ... during a promotion; and one that never comes back
    python -m attnops.benchmarks.faults tracking-service     # ... under the Serve app, with loopback load
    python -m attnops.benchmarks.faults postgres-restart     # a private PostgreSQL restarted under mlflow server
    python -m attnops.benchmarks.faults ray-head             # the Ray head SIGKILLed and restarted (GCS state in Redis)

Every server is private to the run (temporary folders, free loopback ports) and stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from attnops.infra.stack import start_mlflow, stop_tree
from attnops.pipelines.config import REPO_ROOT
from attnops.serving.server import free_port

DEMO = REPO_ROOT / "pipelines/configs/translation/demo.yaml"
TINY = [
    "data.max_train_examples=1500",
    "data.max_eval_examples=8",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=24",
    "train.batch_size=32",
    "train.eval_beam_size=1",
    "train.max_decode_length=10",
    "train.num_threads=1",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
]


class TrackingServer:
    """``mlflow server`` on a SQLite store (or ``backend``) in ``root``; killed and started again on one port."""

    def __init__(self, root: Path, backend: str | None = None) -> None:
        self.root, self.port = root, free_port()
        self.backend = backend or f"sqlite:///{root / 'store.db'}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it; return the seconds until ``/health`` answered."""
        started = time.monotonic()
        self.process = start_mlflow(self.backend, self.root / "artifacts", self.root / "server.log", self.port, 1)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the server and its workers, as a crash or an OOM kill would."""
        root = psutil.Process(self.process.pid)
        for process in [*root.children(recursive=True), root]:
            process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_tree(self.process.pid)


@contextmanager
def tracking_server(backend: str | None = None) -> Iterator[TrackingServer]:
    root = Path(tempfile.mkdtemp(prefix="attnops-faults-"))
    server = TrackingServer(root, backend)
    server.start()
    saved = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "ATTNOPS_HOME")}
    os.environ.update(MLFLOW_TRACKING_URI=server.url, ATTNOPS_HOME=str(root / "home"))
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
        shutil.rmtree(root, ignore_errors=True)


def attnops(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "attnops.cli", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _settings(*overrides: str) -> list[str]:
    return [a for o in [*TINY, *overrides] for a in ("--set", o)]


def tracking_training(outage_s: float, epochs: int) -> None:
    """Kill the tracking server after the first epoch's metrics, start it again ``outage_s`` later."""
    from mlflow import MlflowClient

    with tracking_server() as server:
        client = MlflowClient(server.url)
        started = time.monotonic()
        process = attnops("train", str(DEMO), *_settings(f"train.max_epochs={epochs}", "tracking.experiment=outage"))
        run_id = _wait_for_metric(client, "outage", "val_loss", process)
        server.kill()
        killed = time.time()
        print(f"tracking server killed {time.monotonic() - started:.1f} s into the run (after epoch 0's metrics)")
        time.sleep(outage_s)
        back_s = server.start()
        back = time.time()
        print(f"tracking server down {back - killed:.1f} s (restart took {back_s:.1f} s)")
        out, err = process.communicate(timeout=900)
        wall = time.monotonic() - started
        print(f"training exit {process.returncode}, wall {wall:.1f} s; last line: {out.strip().splitlines()[-1:]}")
        if process.returncode:
            print(err[-2000:])
        run = client.get_run(run_id)
        history = {key: client.get_metric_history(run_id, key) for key in ("val_loss", "train_loss_epoch", "lr")}
        during = sorted({m.step for m in history["val_loss"] if killed * 1000 <= m.timestamp <= back * 1000})
        print(f"run {run_id}: {run.info.status}; epochs whose metrics were logged while the server was down: {during}")
        for key, metrics in history.items():
            steps = [m.step for m in metrics]
            once = sorted(steps) == list(range(len(steps)))
            print(f"  {key}: steps {sorted(steps)}, every epoch exactly once: {once}")
        artifacts = [a.path for a in client.list_artifacts(run_id, "checkpoint")]
        print(f"  checkpoint artifacts: {artifacts}")


def tracking_gone(epochs: int) -> None:
    """Kill the tracking server after the first epoch's metrics and keep it down: the run must end with one line
    saying how to resume it; then start the server and resume."""
    from mlflow import MlflowClient

    with tracking_server() as server:
        client = MlflowClient(server.url)
        retries = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}  # give up in seconds, not minutes
        process = attnops(
            "train", str(DEMO), *_settings(f"train.max_epochs={epochs}", "tracking.experiment=gone"), env=retries
        )
        run_id = _wait_for_metric(client, "gone", "val_loss", process)
        server.kill()
        started = time.monotonic()
        out, err = process.communicate(timeout=900)
        print(
            f"training exit {process.returncode} {time.monotonic() - started:.1f} s after the kill; last stderr line:"
        )
        print(f"  {err.strip().splitlines()[-1]}")
        state = Path(os.environ["ATTNOPS_HOME"]) / "runs" / run_id
        print(f"state folder: {sorted(str(p.relative_to(state)) for p in state.rglob('*.ckpt'))}")
        server.start()
        out, err = attnops("train", "--resume", run_id).communicate(timeout=900)
        run = client.get_run(run_id)
        steps = sorted(m.step for m in client.get_metric_history(run_id, "val_loss"))
        artifacts = [a.path for a in client.list_artifacts(run_id, "checkpoint")]
        print(f"after 'attnops train --resume {run_id}': {run.info.status}, val_loss steps {steps}, {artifacts}")


def _wait_for_metric(client, experiment: str, key: str, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found = client.get_experiment_by_name(experiment)
        for run in client.search_runs([found.experiment_id]) if found else []:
            if key in run.data.metrics:
                return run.info.run_id
        if process.poll() is not None:
            raise SystemExit(f"training ended early: {process.communicate()[1][-2000:]}")
        time.sleep(0.2)
    raise SystemExit(f"no {key} metric after 10 minutes")


def tracking_promotion(outage_s: float) -> None:
    """A promotion started while the server is down (back after ``outage_s``), then one it never comes back for."""
    from mlflow import MlflowClient

    from attnops.pipelines.registry import HISTORY_TAG
    from attnops.pipelines.registry_lock import lock_name

    name = "translation-outage"
    with tracking_server() as server:
        versions = _registered(name, 2)
        client = MlflowClient(server.url)

        def state() -> str:
            model = client.get_registered_model(name)
            tickets = client.search_model_versions(f"name='{lock_name(name, 'champion')}'")
            history = model.tags[HISTORY_TAG.format(alias="champion")]
            return f"@champion v{model.aliases['champion']}, history {history}, live lock tickets {len(tickets)}"

        print(f"before: {state()}")
        server.kill()
        started = time.monotonic()
        promotion = attnops("promote", name, versions[1])
        time.sleep(outage_s)
        server.start()
        out, err = promotion.communicate(timeout=600)
        print(
            f"promotion sent with the server down, server back after {outage_s:.0f} s: exit {promotion.returncode} "
            f"after {time.monotonic() - started:.1f} s: {(out or err).strip().splitlines()[-1]}"
        )
        print(f"after: {state()}")

        server.kill()
        started = time.monotonic()
        promotion = attnops("promote", name, versions[0], env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"})
        out, err = promotion.communicate(timeout=600)
        print(
            f"promotion with the server gone for good (client retries 2): exit {promotion.returncode} after "
            f"{time.monotonic() - started:.1f} s; stderr: {err.strip().splitlines()}"
        )
        server.start()
        print(f"after the server is back: {state()}")


def _registered(name: str, count: int) -> list[str]:
    """``count`` versions of ``name`` from one tiny run (train, export, register), the first promoted."""
    from attnops.pipelines.config import load_config
    from attnops.pipelines.export import export_run
    from attnops.pipelines.registry import promote, register
    from attnops.pipelines.train import train

    run_id = train(load_config(DEMO, [*TINY, "train.max_steps=1", "tracking.experiment=outage"])).run_id
    export_run(run_id)
    versions = [str(register(run_id, name).version) for _ in range(count)]
    promote(name, versions[0])
    return versions


def tracking_service(outage_s: float, clients: int) -> None:
    """The Serve app following ``@champion`` through the tracking server, under loopback load, while the server
    is killed for ``outage_s``; then a promotion once it is back."""
    import httpx
    import ray
    from ray import serve

    from attnops.benchmarks.steady_load import SteadyLoad, seconds_until
    from attnops.pipelines.registry import promote
    from attnops.serving.build import application
    from attnops.serving.server import start_local_serve

    name = "translation-outage"
    with tracking_server() as server:
        versions = _registered(name, 2)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        start_local_serve({"host": "127.0.0.1", "port": port}, {"MLFLOW_TRACKING_URI": server.url}, num_cpus=2)
        user_config = {"model_uri": f"models:/{name}@champion", "poll_interval_s": 1}
        options = {"Gateway": {"ray_actor_options": {"num_cpus": 0}}, "Translator": {"user_config": user_config}}
        serve.run(application(options), name="attnops", route_prefix="/")
        try:
            served = lambda: httpx.get(f"{url}/v1/models", timeout=10).json()[0]["model"]["version"]  # noqa: E731
            readyz = lambda: httpx.get(f"{url}/readyz", timeout=10)  # noqa: E731
            with SteadyLoad(f"{url}/v1/translate", {"text": "Ein Hund läuft im Park."}, clients) as load:
                time.sleep(5)
                server.kill()
                killed = time.monotonic()
                noticed = seconds_until(lambda: readyz().json()["registry"] == "unreachable", outage_s)
                during = readyz()
                print(f"tracking server killed; /readyz said the registry is unreachable after {noticed} s")
                print(f"/readyz during the outage: {during.status_code} {during.json()}")
                time.sleep(max(0.0, outage_s - (time.monotonic() - killed)))
                server.start()
                back = time.monotonic()
                print(f"tracking server down {back - killed:.1f} s")
                reachable = seconds_until(lambda: readyz().json()["registry"] == "reachable", 120)
                promote(name, versions[1])
                promoted = time.monotonic()
                swapped = seconds_until(lambda: served() == versions[1], 120)
                print(
                    f"registry reachable again {reachable} s after the restart; v{versions[1]} promoted and served "
                    f"{swapped} s later"
                )
                time.sleep(2)
            counts = load.counts()
            outage = [o for o in load.outcomes if killed <= o.sent_s <= back]
            slowest = max(o.done_s - o.sent_s for o in load.outcomes)
            print(
                f"load: {clients} clients, {len(load.outcomes)} requests {dict(counts)}; during the outage "
                f"{len(outage)} requests {dict(Counter(o.status for o in outage))}; slowest {slowest:.2f} s"
            )
            after = [o for o in load.outcomes if o.sent_s > promoted]
            print(f"after the promotion: {len(after)} requests {dict(Counter(o.status for o in after))}")
        finally:
            serve.shutdown()
            ray.shutdown()


def ray_head(clients: int, seconds: float) -> None:
    """Ray's GCS fault tolerance on one machine: a head node keeping its state in a private Redis (on a free
    port, not Ray's default 6379), a worker node holding the Serve replicas; the head SIGKILLed under loopback
    load and started again on its port."""
    from attnops.benchmarks.steady_load import SteadyLoad, seconds_until
    from attnops.infra.stack import _ray, deploy_config, ray_processes

    root = Path(tempfile.mkdtemp(prefix="attnops-rayft-"))  # short: Ray's socket paths must fit in 107 bytes
    redis_port, ray_port, dashboard_port, serve_port = (free_port() for _ in range(4))
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    os.environ["RAY_REDIS_ADDRESS"] = f"127.0.0.1:{redis_port}"  # the head's GCS keeps its tables there
    os.environ["RAY_gcs_rpc_server_reconnect_timeout_s"] = "300"  # a worker waits this long for the head
    node = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--temp-dir", str(root)]
    head = [
        "start", "--head", "--port", str(ray_port), "--num-cpus", "0", "--ray-client-server-port", str(free_port()),
        "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard_port), *node,
        "--dashboard-agent-listen-port", str(free_port()),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{serve_port}"
    try:
        with tracking_server() as server:
            _registered("translation-de-en", 1)  # the model the Serve config's Translator follows
            _ray(head, root / "ray.log")
            head_roots = ray_processes(str(root))
            _ray(
                ["start", "--address", f"127.0.0.1:{ray_port}", "--num-cpus", "2", "--resources", '{"replicas": 8}',
                 *node, "--dashboard-agent-listen-port", str(free_port())],
                root / "ray.log",
            )  # fmt: skip
            on_worker = {"ray_actor_options": {"resources": {"replicas": 1}}}
            options = {"Gateway": on_worker, "Translator": {**on_worker, "autoscaling_config": {"max_replicas": 1}}}
            deploy_config(
                root,
                f"http://127.0.0.1:{dashboard_port}",
                server.url,
                "127.0.0.1",
                serve_port,
                ("translation",),
                options,
            )
            ready = seconds_until(lambda: _answers(f"{url}/readyz"), 300, 2)
            proxies = [p for p in ray_processes(str(root)) if "ProxyActor" in " ".join(p.cmdline())]
            print(f"Serve app ready after {ready} s (Gateway and Translator on the worker node); "
                  f"{len(proxies)} HTTP proxy processes, {len(head_roots)} head-node processes")  # fmt: skip
            with SteadyLoad(f"{url}/v1/translate", {"text": "Ein Hund läuft im Park."}, clients, timeout_s=30) as load:
                time.sleep(5)
                doomed = {p.pid: p for r in head_roots if r.is_running() for p in [r, *r.children(recursive=True)]}
                for process in doomed.values():
                    process.kill()
                killed = time.monotonic()
                print(f"head node SIGKILLed: {len(doomed)} processes (GCS, raylet, dashboard, Serve controller, ...)")
                time.sleep(5)
                # `ray start --head` refuses an address a local raylet still names (the worker node's, here, on
                # the same host) when it is also the last cluster started from this temp dir; forget the latter.
                (root / "ray_current_cluster").unlink(missing_ok=True)
                _ray(head, root / "ray.log")
                restarted = time.monotonic()
                print(f"head node started again on port {ray_port} after {restarted - killed:.1f} s")
                time.sleep(seconds)
            outcomes = load.outcomes
            bad = [o for o in outcomes if o.status != 200]
            slow = [o for o in outcomes if o.status == 200 and o.done_s - o.sent_s > 1.0]
            print(f"load: {clients} clients, {len(outcomes)} requests {dict(Counter(o.status for o in outcomes))}")
            if bad:
                print(f"failed: {len(bad)}, from {bad[0].sent_s - killed:+.1f} s to {bad[-1].done_s - killed:+.1f} s "
                      "after the kill")  # fmt: skip
            print(
                f"answered but slower than 1 s: {len(slow)}; slowest {max(o.done_s - o.sent_s for o in outcomes):.2f} s"
            )
            print(f"/readyz afterwards: {_answers(f'{url}/readyz')}")
    finally:
        for process in ray_processes(str(root)):
            process.kill()
        redis.kill()
        shutil.rmtree(root, ignore_errors=True)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb into a temporary folder, run as the ``postgres`` user, trust auth
    on a free loopback port), so restarting it disturbs no other user of the machine's PostgreSQL."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="attnops-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data, self.port = self.root / "data", free_port()
        self.uri = f"postgresql://postgres@127.0.0.1:{self.port}/mlflow"
        self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        self.ctl("start", "-w")
        self._as_postgres(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "mlflow")

    def _as_postgres(self, *command) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)], check=True, capture_output=True, cwd=self.root
        )

    def ctl(self, action: str, *args: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        self._as_postgres(PG_BIN / "pg_ctl", action, "-D", self.data, "-o", options, "-l", self.root / "pg.log", *args)

    def stop(self) -> None:
        self.ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_restart(seconds: float) -> None:
    """Registry reads and metric writes in a loop against mlflow server while its PostgreSQL restarts."""
    from mlflow import MlflowClient

    database = PrivatePostgres()
    try:
        with tracking_server(database.uri) as server:
            client = MlflowClient(server.url)
            run_id = client.create_run(client.create_experiment("pg-restart")).info.run_id
            client.create_registered_model("pg-restart-model")
            calls, failures, sent, slowest, restart_at, step = 0, [], 0, 0.0, None, 0
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                if restart_at is None and time.monotonic() - started > seconds / 3:
                    restart_at = time.monotonic()
                    # In the background: the loop keeps calling through the restart.
                    threading.Thread(target=database.ctl, args=("restart", "-m", "fast", "-w")).start()
                call = time.monotonic()
                try:
                    client.log_metric(run_id, "x", float(step), step=step)
                    sent += 1
                    client.get_registered_model("pg-restart-model")
                except Exception as exc:  # counted and shown below
                    failures.append((round(call - started, 1), str(exc).splitlines()[0][:120]))
                calls += 1
                step += 1
                slowest = max(slowest, time.monotonic() - call)
            stored = len(client.get_metric_history(run_id, "x"))
            print(
                f"{calls} rounds (log_metric + get_registered_model) in {seconds:.0f} s; PostgreSQL restarted "
                f"(pg_ctl restart -m fast) at {restart_at - started:.1f} s"
            )
            print(f"failed rounds: {len(failures)} {failures[:3]}; slowest round {slowest:.2f} s")
            print(f"metrics acknowledged {sent}, stored {stored}")
    finally:
        database.stop()


FAULTS = {
    "tracking-training": lambda a: tracking_training(a.outage_s, a.epochs),
    "tracking-gone": lambda a: tracking_gone(a.epochs),
    "tracking-promotion": lambda a: tracking_promotion(a.outage_s),
    "tracking-service": lambda a: tracking_service(a.outage_s, a.clients),
    "postgres-restart": lambda a: postgres_restart(a.seconds),
    "ray-head": lambda a: ray_head(a.clients, a.seconds),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m attnops.benchmarks.faults", description=__doc__.splitlines()[0])
    parser.add_argument("fault", choices=list(FAULTS))
    parser.add_argument("--outage-s", type=float, default=30.0, help="seconds the server stays down")
    parser.add_argument("--epochs", type=int, default=8, help="tracking-training, tracking-gone: epochs of the run")
    parser.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="postgres-restart: seconds of load; ray-head: load after the restart",
    )
    parser.add_argument("--clients", type=int, default=4, help="tracking-service, ray-head: loopback clients")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    FAULTS[args.fault](args)


if __name__ == "__main__":
    main()

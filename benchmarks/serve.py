"""``attnops bench serve``: the REST service against itself and against ``mlflow models serve``.

Each system is a real server process on 127.0.0.1 (``attnops serve`` with a derived Serve config, or
``mlflow models serve``) on the same registered model; the load comes from ``wrk`` in a process of its
own (:mod:`attnops.benchmarks.wrk_load`). Rounds start every system in turn, so the ratios compare designs
measured minutes apart, and their spread over the rounds is reported.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from tqdm import tqdm

from attnops.benchmarks.systems import PAIRED, RATIOS, SYSTEMS, System
from attnops.benchmarks.wrk_load import WrkResult, run_wrk, wrk_binary
from attnops.pipelines import rollout, tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import CHALLENGER_ALIAS
from attnops.pipelines.inference.bundle import Bundle
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.inference.resolve import resolve
from attnops.pipelines.translation.data import load_corpus
from attnops.pipelines.translation.translate import translate
from attnops.serving.auth import client_headers
from attnops.serving.rollout.split import Split
from attnops.serving.server import DEFAULT_CONFIG, absolute_tracking_uri, free_port

TWELVE_WORDS = 12
WARM_UP_S = 2
IN_PROCESS_BATCH = 32
HOP_PATHS = ("/healthz", "/v1/models")


@dataclass
class ServeBench:
    cores: int
    levels: dict[tuple[str, int], list[WrkResult]] = field(default_factory=dict)
    """(system, clients) → one result per round."""
    healthz: dict[str, list[WrkResult]] = field(default_factory=dict)
    single: dict[str, list[WrkResult]] = field(default_factory=dict)
    """Single-client latency on twelve-word sentences, per service system and round."""
    hops: dict[tuple[str, str], list[WrkResult]] = field(default_factory=dict)
    """(system, path) → single-client ``GET /healthz`` (the gateway alone) and ``GET /v1/models`` (the gateway
    and one call to the model replica's ``status``), per round."""
    decode_p50_ms: dict[str, list[float]] = field(default_factory=dict)
    """Precision → in-process decoding of the same twelve-word sentences, one at a time, median, per round."""
    batch_rate: dict[str, list[float]] = field(default_factory=dict)
    """Precision → in-process sentences per second over the whole test set in batches of 32, per round."""


def _serve_config(folder: Path, model_uri: str, system: System, gpus: float) -> Path:
    """The repository's Serve config with the Translator pinned to one replica (``gpus`` GPUs) and the
    system's settings."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for deployment in config["applications"][0]["deployments"]:
        if deployment["name"] == "Translator":
            deployment.pop("autoscaling_config", None)
            deployment["num_replicas"] = 1
            deployment["ray_actor_options"].update(num_cpus=1, num_gpus=gpus)
            deployment["user_config"].update(
                model_uri=model_uri,
                max_batch_size=system.max_batch_size,
                batch_by_length=system.batch_by_length,
                poll_interval_s=0,
                runtime={"precision": system.precision},
                inference_log={"enabled": system.inference_log, "store": str(folder / "inference-log")},
            )
    config["applications"][0].setdefault("args", {})["one_hop"] = system.one_hop
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise UserError(f"the server for {url} exited (code {process.returncode}): {' | '.join(tail)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise UserError(f"{url} was not ready after {timeout_s:.0f} s")


@contextmanager
def _server(system: System, model_uri: str, tracking_uri: str, gpus: float) -> Iterator[str]:
    """Start ``system`` on a free loopback port; yield its base URL; stop it (SIGTERM, then wait)."""
    port = free_port()
    bin_folder = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": os.pathsep.join((str(bin_folder), os.environ.get("PATH", ""))),  # mlflow runs uvicorn from it
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **system.env,
    }
    with tempfile.TemporaryDirectory() as folder:
        if system.mlflow:
            command = [str(bin_folder / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
                       "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
            ready = f"http://127.0.0.1:{port}/ping"
        else:
            config = _serve_config(Path(folder), model_uri, system, gpus)
            command = [str(bin_folder / "attnops"), "serve", "--config", str(config), "--model", model_uri,
                       "--port", str(port)]  # fmt: skip
            ready = f"http://127.0.0.1:{port}/readyz"
        log = Path(folder) / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(ready, process, log)
            if system.split:
                _set_split(f"http://127.0.0.1:{port}", model_uri)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def _challenger(model_uri: str, systems: tuple[str, ...]) -> Iterator[None]:
    """``@challenger`` on the served version while systems with a split run (their challenger deployment loads it);
    refused while a real rollout of the model runs, removed afterwards."""
    if not any(SYSTEMS[name].split for name in systems):
        yield
        return
    resolved = resolve(model_uri)
    if resolved.name is None or rollout.current(resolved.name) is not None:
        raise UserError(f"the split system needs a registry model with no rollout running; {model_uri} is not one")
    client = tracking.client()
    client.set_registered_model_alias(resolved.name, CHALLENGER_ALIAS, resolved.version)
    try:
        yield
    finally:
        client.delete_registered_model_alias(resolved.name, CHALLENGER_ALIAS)


def _set_split(base: str, model_uri: str) -> None:
    """The split of system ``a-split``, once the challenger deployment has loaded ``@challenger`` (the benchmark's
    Serve config turns alias polling off)."""
    resolved = resolve(model_uri)
    httpx.post(f"{base}/v1/models/reload", headers=client_headers(), timeout=300).raise_for_status()
    split = Split(model=resolved.name, champion=resolved.version, version=resolved.version, share=0.0)
    response = httpx.put(
        f"{base}/v1/rollout/translation", json=split.model_dump(), headers=client_headers(), timeout=60
    )
    if response.status_code != 200:
        raise UserError(f"the service refused the benchmark's split: {response.text}")


def _bodies(system: System, sentences: list[str]) -> list[str]:
    if system.mlflow:
        return [json.dumps({"dataframe_records": [{"text": s}], "params": {"beam_size": 1}}) for s in sentences]
    return [json.dumps({"text": s, "beam_size": 1}) for s in sentences]


def _load(url: str, bodies: list[str], clients: int, seconds: float) -> WrkResult:
    run_wrk(url, bodies, clients, WARM_UP_S)
    return run_wrk(url, bodies, clients, seconds)


def decode_p50_ms(bundle: Bundle, sentences: list[str], precision: str) -> float:
    """Median milliseconds to decode one of ``sentences`` alone, in this process, as a replica does."""
    backend = bundle.backend(bundle.config.runtime.model_copy(update={"precision": precision}))
    settings = search_settings(bundle.config, bundle.codec, 1)
    times = []
    for sentence in sentences[:3] + sentences:  # the first three warm the sessions up
        start = time.perf_counter()
        translate(backend, bundle.codec, [sentence], settings)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[3:])


def batch_rate(bundle: Bundle, sentences: list[str], precision: str, batch_size: int = IN_PROCESS_BATCH) -> float:
    """Sentences per second decoding all of ``sentences`` in this process, in batches of similar length."""
    backend = bundle.backend(bundle.config.runtime.model_copy(update={"precision": precision}))
    settings = search_settings(bundle.config, bundle.codec, 1)
    translate(backend, bundle.codec, sentences[:batch_size], settings, batch_size)  # warm-up
    start = time.perf_counter()
    translate(backend, bundle.codec, sentences, settings, batch_size)
    return len(sentences) / (time.perf_counter() - start)


def natural_mix(bundle: Bundle) -> list[str]:
    """The model's test split (``export.parity_split``), whole, whatever the training config kept of it: the
    natural length mix of a real test set."""
    data = bundle.config.data.model_copy(update={"max_eval_examples": None})
    return load_corpus(data)[bundle.config.export.parity_split].sources


def bench_serve(
    model_uri: str,
    systems: tuple[str, ...],
    clients: tuple[int, ...],
    seconds: float,
    rounds: int,
    replica_gpus: float = 0,
) -> ServeBench:
    """``rounds`` rounds; in each, the model in this process (one twelve-word sentence at a time, and the whole
    test set in batches of 32), then every system in turn serves all test_2016_flickr sentences (greedy) at
    each client count for ``seconds``, and each service also ``/healthz`` at the largest count, single-client
    requests of twelve-word sentences, and single-client ``/healthz`` and ``/v1/models`` (the hop to the model)."""
    wrk_binary()
    bundle = resolve(model_uri).bundle
    sentences = natural_mix(bundle)
    twelve = [s for s in sentences if len(s.split()) == TWELVE_WORDS] or sentences
    tracking_uri = absolute_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    precisions = sorted({SYSTEMS[name].precision for name in systems if not SYSTEMS[name].mlflow})
    bench = ServeBench(cores=os.cpu_count() or 1)
    top = max(clients)
    with (
        _challenger(model_uri, systems),
        tqdm(total=rounds * len(systems), desc="bench serve", unit="system") as progress,
    ):
        for _ in range(rounds):
            for precision in precisions:
                progress.set_postfix_str(f"in-process {precision}")
                bench.decode_p50_ms.setdefault(precision, []).append(decode_p50_ms(bundle, twelve, precision))
                bench.batch_rate.setdefault(precision, []).append(batch_rate(bundle, sentences, precision))
            for name in systems:
                system = SYSTEMS[name]
                progress.set_postfix_str(name)
                with _server(system, model_uri, tracking_uri, replica_gpus) as base:
                    url = f"{base}/invocations" if system.mlflow else f"{base}/v1/translate"
                    for count in clients:
                        result = _load(url, _bodies(system, sentences), count, seconds)
                        bench.levels.setdefault((name, count), []).append(result)
                    if not system.mlflow:
                        bench.healthz.setdefault(name, []).append(_load(f"{base}/healthz", [], top, seconds))
                        bench.single.setdefault(name, []).append(_load(url, _bodies(system, twelve), 1, seconds))
                        for path in HOP_PATHS:
                            bench.hops.setdefault((name, path), []).append(_load(f"{base}{path}", [], 1, seconds))
                progress.update()
    return bench


def _spread(values: list[float], digits: int = 1) -> str:
    """Mean, and the range over the rounds when there is more than one."""
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def format_report(bench: ServeBench, systems: tuple[str, ...], clients: tuple[int, ...]) -> str:
    rounds = max((len(r) for r in bench.levels.values()), default=0)
    lines = [
        f"{rounds} round(s); mean [min-max] over rounds; client CPU: wrk's share of {bench.cores} cores",
        f"{'system':<40} {'clients':>7} {'req/s':>20} {'p50 ms':>22} {'p99 ms':>22} {'client CPU':>10}",
    ]
    for name in systems:
        for count in clients:
            results = bench.levels.get((name, count), [])
            if results:
                cpu = statistics.fmean(r.client_cpu_share(bench.cores) for r in results)
                lines.append(
                    f"{SYSTEMS[name].label:<40} {count:>7} {_spread([r.throughput for r in results]):>20} "
                    f"{_spread([r.p50_ms for r in results]):>22} {_spread([r.p99_ms for r in results]):>22} "
                    f"{cpu:>10.1%}"
                )
    top = max(clients)
    for first, second in RATIOS:
        a, b = bench.levels.get((first, top)), bench.levels.get((second, top))
        if a and b:
            ratios = [x.throughput / y.throughput for x, y in zip(a, b) if y.throughput]
            lines.append(f"({first})/({second}) throughput at {top} clients: {_spread(ratios, 2)}x")
    for first, second in PAIRED:
        for count in clients:
            a, b = bench.levels.get((first, count)), bench.levels.get((second, count))
            if a and b:
                extra = [x.p50_ms - y.p50_ms for x, y in zip(a, b)]
                ratios = [x.throughput / y.throughput for x, y in zip(a, b) if y.throughput]
                lines.append(
                    f"({first}) vs ({second}) at {count} clients: p50 {_spread(extra, 2)} ms, "
                    f"throughput {_spread(ratios, 2)}x"
                )
    for name, results in bench.healthz.items():
        lines.append(f"({name}) GET /healthz at {top} clients: {_spread([r.throughput for r in results])} req/s")
    for precision, ms in bench.decode_p50_ms.items():
        lines.append(f"in-process decode of one {TWELVE_WORDS}-word sentence, {precision}, p50: {_spread(ms)} ms")
    for precision, rates in bench.batch_rate.items():
        lines.append(f"in-process, {precision}, batches of {IN_PROCESS_BATCH}: {_spread(rates)} sentences/s")
    for (name, path), results in bench.hops.items():
        lines.append(f"({name}) single client, GET {path}: p50 {_spread([r.p50_ms for r in results], 2)} ms")
    for name, results in bench.single.items():
        p50 = [r.p50_ms for r in results]
        overhead = [p - ms for p, ms in zip(p50, bench.decode_p50_ms[SYSTEMS[name].precision])]
        lines.append(
            f"({name}) single client, {TWELVE_WORDS}-word sentences: p50 {_spread(p50)} ms, "
            f"serving overhead {_spread(overhead)} ms"
        )
    for name in systems:
        results, rates = bench.levels.get((name, top)), bench.batch_rate.get(SYSTEMS[name].precision)
        if results and rates:
            shares = [r.throughput / rate for r, rate in zip(results, rates)]
            lines.append(f"({name}) at {top} clients / in-process batches of {IN_PROCESS_BATCH}: {_spread(shares, 2)}x")
    return "\n".join(lines)

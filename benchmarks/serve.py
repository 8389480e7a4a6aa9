"""``attnops bench serve``: throughput and latency of (a) the service with batching, (b) the same with
``max_batch_size=1``, (c) ``mlflow models serve`` on the same registered model; and how close (a)
comes to the machine's measured fp32 matrix-multiply peak.

Every request goes to 127.0.0.1, in a fixed count and under a time limit per level.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import torch
from tqdm import tqdm

from benchmarks.load_generator import LoadResult, run_load
from models.seq2seq import Seq2Seq
from pipelines.errors import UserError
from pipelines.inference.bundle import Bundle
from pipelines.inference.resolve import resolve
from pipelines.translation.data import load_corpus
from pipelines.translation.model import build_model
from serving.server import absolute_tracking_uri, free_port

CLIENTS = (1, 16, 64)
SYSTEMS = {
    "a": "service, dynamic batching",
    "b": "service, max_batch_size=1",
    "c": "mlflow models serve",
}
TWELVE_WORDS = 12
BATCH_WAIT_S = 0.01


@dataclass
class ServeBench:
    results: dict[tuple[str, int], LoadResult] = field(default_factory=dict)
    single_p50_ms: float = float("nan")
    achieved_flops: float = float("nan")
    peak_flops: float = float("nan")
    threads: int = 1


def token_flops(model: Seq2Seq, mean_source_length: float) -> tuple[float, float]:
    """FLOPs per source token and per generated token (greedy), counted from the weight shapes.

    A weight matrix with ``n`` entries costs ``2n`` FLOPs per row it is applied to. Per source
    token: the encoder RNN (both directions) and the attention key projection. Per generated token:
    every other decoder matrix except the embedding and the bridge (once per sentence), plus scoring
    and summing over the source states (``2·S·(D + H)``).
    """
    encoder = sum(p.numel() for n, p in model.encoder.named_parameters() if "weight" in n and "embedding" not in n)
    keys = sum(p.numel() for n, p in model.decoder.attention.named_parameters() if "key" in n and "weight" in n)
    skip = ("embedding", "bridge", "key")
    decoder = sum(
        p.numel() for n, p in model.decoder.named_parameters() if "weight" in n and not any(s in n for s in skip)
    )
    hidden = model.config.hidden_size
    return 2.0 * (encoder + keys), 2.0 * decoder + 2.0 * mean_source_length * 2 * hidden


def matmul_peak_flops(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """Measured fp32 matrix-multiply FLOP/s on ``threads`` cores (PyTorch's BLAS)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = time.perf_counter() - start
    torch.set_num_threads(previous)
    return 2.0 * size**3 * repeats / seconds


def _wait_ready(url: str, process: subprocess.Popen | None, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise UserError(f"{url} exited before it was ready (code {process.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise UserError(f"{url} was not ready after {timeout_s:.0f} s")


def _service_options(model_uri: str, max_batch_size: int) -> dict:
    return {
        "Gateway": {"ray_actor_options": {"num_cpus": 0}},
        "Translator": {
            "max_ongoing_requests": 256,
            "max_queued_requests": 1024,
            "ray_actor_options": {"num_cpus": 1},
            "user_config": {
                "model_uri": model_uri,
                "max_batch_size": max_batch_size,
                "batch_wait_timeout_s": BATCH_WAIT_S,
                "poll_interval_s": 0,
            },
        },
    }


def _levels(
    url: str, body, sentences: list[str], clients: tuple[int, ...], requests: int, time_limit_s: float, label: str
) -> dict[int, LoadResult]:
    results = {}
    for count in tqdm(clients, desc=label, unit="level"):
        run_load(url, lambda i: body(sentences[i % len(sentences)]), min(8, requests), count, time_limit_s)  # warm-up
        results[count] = run_load(url, lambda i: body(sentences[i % len(sentences)]), requests, count, time_limit_s)
    return results


def bench_serve(model_uri: str, requests: int, time_limit_s: float, clients: tuple[int, ...]) -> ServeBench:
    """Run the three systems on test_2016_flickr sentences, greedy decoding everywhere."""
    import ray
    from ray import serve

    from serving.app import application

    bundle: Bundle = resolve(model_uri).bundle
    sentences = load_corpus(bundle.config.data)[bundle.config.export.parity_split].sources
    twelve = [s for s in sentences if len(s.split()) == TWELVE_WORDS]
    threads = os.cpu_count() or 1
    bench = ServeBench(threads=threads)
    tracking_uri = absolute_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/translate"

    def service_body(text: str) -> dict:
        return {"text": text, "beam_size": 1}

    # Replica logs stay in Ray's log files: per-request access lines cost CPU the service needs here.
    ray.init(
        include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"MLFLOW_TRACKING_URI": tracking_uri}}
    )
    try:
        serve.start(
            http_options={"host": "127.0.0.1", "port": port},
            logging_config={"enable_access_log": False, "log_level": "WARNING"},
        )
        for system, batch in (("a", max(clients)), ("b", 1)):
            serve.run(application(_service_options(model_uri, batch)), name="attnops", route_prefix="/")
            _wait_ready(f"http://127.0.0.1:{port}/readyz", None)
            levels = _levels(url, service_body, sentences, clients, requests, time_limit_s, SYSTEMS[system])
            bench.results.update({(system, count): result for count, result in levels.items()})
            if system == "a":
                bench.single_p50_ms = run_load(
                    url, lambda i: service_body(twelve[i % len(twelve)]), 50, 1, 60
                ).percentile(50)
                bench.achieved_flops = _achieved_flops(bundle, sentences, bench.results["a", max(clients)])
    finally:
        serve.shutdown()
        ray.shutdown()

    mlflow_port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", model_uri,
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(mlflow_port)]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(f"http://127.0.0.1:{mlflow_port}/ping", process)
            levels = _levels(
                f"http://127.0.0.1:{mlflow_port}/invocations",
                lambda text: {"dataframe_records": [{"text": text}], "params": {"beam_size": 1}},
                sentences, clients, requests, time_limit_s, SYSTEMS["c"],
            )  # fmt: skip
            bench.results.update({("c", count): result for count, result in levels.items()})
        finally:
            process.terminate()
            process.wait(timeout=30)
    bench.peak_flops = matmul_peak_flops(threads)
    return bench


def _achieved_flops(bundle: Bundle, sentences: list[str], result: LoadResult) -> float:
    """FLOP/s of a load level: its sentences' source tokens and (greedy) output tokens, counted locally."""
    from pipelines.inference.decoding import search_settings
    from pipelines.translation.translate import translate

    done = [sentences[i % len(sentences)] for i in range(result.requests - result.failures)]
    source_lengths = [len(ids) for ids in bundle.codec.encode_source(done)]
    outputs = translate(bundle.backend(), bundle.codec, done[:200], search_settings(bundle.config, bundle.codec, 1))
    mean_generated = sum(len(o.target_tokens) for o in outputs) / len(outputs)
    mean_source = sum(source_lengths) / len(source_lengths)
    per_source, per_generated = token_flops(build_model(bundle.config, bundle.codec), mean_source)
    total = sum(source_lengths) * per_source + len(done) * mean_generated * per_generated
    return total / result.seconds


def format_report(bench: ServeBench, clients: tuple[int, ...]) -> str:
    lines = [f"{'system':<28} {'clients':>7} {'requests':>8} {'failed':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"]
    for system, label in SYSTEMS.items():
        for count in clients:
            r = bench.results.get((system, count))
            if r:
                lines.append(
                    f"{label:<28} {count:>7} {r.requests:>8} {r.failures:>6} {r.throughput:>8.1f} "
                    f"{r.percentile(50):>8.1f} {r.percentile(99):>8.1f}"
                )
    top = max(clients)
    a, b, c = (bench.results.get((s, top)) for s in "abc")
    if a and b:
        lines.append(f"(a)/(b) throughput at {top} clients: {a.throughput / b.throughput:.2f}x")
    if a and c:
        lines.append(f"(a)/(c) throughput at {top} clients: {a.throughput / c.throughput:.2f}x")
    lines.append(f"single client, {TWELVE_WORDS}-word sentences, p50: {bench.single_p50_ms:.1f} ms")
    share = bench.achieved_flops / bench.peak_flops
    lines.append(
        f"(a) at {top} clients: {bench.achieved_flops / 1e9:.2f} GFLOP/s of a measured {bench.peak_flops / 1e9:.1f} "
        f"GFLOP/s fp32 matmul peak on {bench.threads} cores = {share:.0%} (aim >= 40%)"
    )
    return "\n".join(lines)

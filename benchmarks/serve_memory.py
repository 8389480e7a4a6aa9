"""Resident memory of each Serve actor once ``attnops serve`` answers: the gateway beside the model replicas.

    python -m attnops.benchmarks.serve_memory --model models:/NAME@champion

Starts ``attnops serve`` on a free loopback port (its own local Ray), waits for ``/readyz``, sends one
translation, then prints RSS and USS (memory no other process shares) of every Ray actor the server started,
and whether torch or ONNX Runtime is mapped into it. Stops the server at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from attnops.serving.server import free_port

RUNTIMES = ("libtorch", "onnxruntime")
"""Shared libraries whose mapping shows a model runtime in a process."""


def _wait_ready(port: int, server: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"attnops serve was not ready on port {port} within {timeout_s:.0f} s")


def _translate_once(port: int, text: str) -> str:
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/translate", body, {"Content-Type": "application/json"}
    )
    return urllib.request.urlopen(request, timeout=60).read().decode()


def actor_memory(root: int) -> list[tuple[str, float, float, tuple[str, ...]]]:
    """(process title, RSS MiB, USS MiB, model runtimes mapped) of every Ray actor under process ``root``."""
    rows = []
    for process in psutil.Process(root).children(recursive=True):
        try:
            title = (process.cmdline() or [""])[0]
            if not title.startswith("ray::") or "IDLE" in title:
                continue
            memory = process.memory_full_info()
            maps = Path(f"/proc/{process.pid}/maps").read_text()
        except (psutil.Error, OSError):
            continue
        runtimes = tuple(name for name in RUNTIMES if name in maps)
        rows.append((title, memory.rss / 2**20, memory.uss / 2**20, runtimes))
    return sorted(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnops.benchmarks.serve_memory", description=__doc__)
    parser.add_argument("--model", required=True, help="a translation model URI (models:/NAME@ALIAS)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for /readyz")
    args = parser.parse_args(argv)
    port = free_port()
    attnops = Path(sys.executable).with_name("attnops")
    command = [str(attnops), "serve", "--model", args.model, "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_ready(port, server, args.timeout)
        print("translate:", _translate_once(port, "Ein kleiner Junge spielt mit einem Ball im Park."))
        time.sleep(3)  # let the replicas settle after the first request
        print(f"{'actor':<40} {'RSS MiB':>8} {'USS MiB':>8}  model runtime")
        for title, rss, uss, runtimes in actor_memory(server.pid):
            print(f"{title:<40} {rss:>8.0f} {uss:>8.0f}  {', '.join(runtimes) or 'none'}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

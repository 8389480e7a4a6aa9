"""Load from a process of its own: ``wrk`` (Debian package ``wrk``), scripted in Lua.

The client is compiled C on one thread, so it takes little of the cores it measures; what it did take
is read from the kernel (``RUSAGE_CHILDREN``) and reported beside the figures. A level runs for a fixed
time (``-d``: wrk measures over the whole of it, so throughput needs the full window) and is capped in
requests as a safety: a level that reaches the cap is refused rather than reported with a wrong rate.
Only loopback URLs are accepted.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from attnops.benchmarks.load_generator import LOOPBACK
from attnops.pipelines.errors import UserError

SCRIPT = """
local bodies = {%(bodies)s}
local limit, sent, answered = %(requests)d, 0, 0
wrk.method = "%(method)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  sent = sent + 1
  if #bodies == 0 then return wrk.format() end
  return wrk.format(nil, nil, nil, bodies[(sent - 1) %% #bodies + 1])
end
response = function(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"answered": %%d, "seconds": %%.6f, "bad_status": %%d, "socket_errors": %%d, ' ..
    '"p50_ms": %%.3f, "p99_ms": %%.3f}\\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One load level as wrk saw it; ``client_cpu_s`` is wrk's own user + system CPU time."""

    clients: int
    answered: int
    failed: int
    """Answers other than 2xx/3xx, plus connection errors and timeouts."""
    seconds: float
    p50_ms: float
    p99_ms: float
    client_cpu_s: float

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return (self.answered - self.failed) / self.seconds if self.seconds else 0.0

    def client_cpu_share(self, cores: int) -> float:
        """The client's CPU time as a share of all the machine's core-seconds during the level."""
        return self.client_cpu_s / (self.seconds * cores) if self.seconds else 0.0


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def wrk_binary() -> str:
    """The ``wrk`` executable, or a one-line error saying how to get it."""
    path = shutil.which("wrk")
    if path is None:
        raise UserError("this benchmark sends its load with wrk: install it (Debian: apt-get install wrk)")
    return path


def run_wrk(url: str, bodies: list[str], clients: int, seconds: float, max_requests: int = 100_000) -> WrkResult:
    """POST ``bodies`` (JSON texts, round-robin) to ``url`` from ``clients`` connections, or GET when
    ``bodies`` is empty, for ``seconds``; at most ``max_requests`` answers."""
    if urlparse(url).hostname not in LOOPBACK:
        raise ValueError(f"load tests only go to loopback addresses, not {urlparse(url).hostname!r}")
    script = SCRIPT % {
        "bodies": ", ".join(_lua_string(body) for body in bodies),
        "requests": max_requests,
        "method": "POST" if bodies else "GET",
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "load.lua"
        path.write_text(script)
        command = [wrk_binary(), "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s",
                   f"--timeout={max(1, round(seconds))}s", "-s", str(path), url]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise UserError(f"wrk failed on {url}: {(done.stderr or done.stdout).strip()[:300]}")
    figures = json.loads(lines[-1].removeprefix("RESULT "))
    if figures["answered"] >= max_requests:
        raise UserError(f"{url}: {max_requests} answers before the {seconds:.0f} s window ended; raise the cap")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkResult(
        clients=clients,
        answered=figures["answered"],
        failed=figures["bad_status"] + figures["socket_errors"],
        seconds=figures["seconds"],
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        client_cpu_s=cpu,
    )

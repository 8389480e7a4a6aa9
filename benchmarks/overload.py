"""Open-loop overload of a loopback service: a fixed request rate for a fixed time, whatever it answers.

Counts every answer by status, checks that each 503 carries ``Retry-After``, counts requests that got
no answer at all (dropped connection, client timeout), and samples the peak RSS of the Ray Serve
replica processes meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
import psutil

from attnops.benchmarks.load_generator import LOOPBACK

REPLICA_PROCESS = "ServeReplica"
"""Ray names each Serve replica's worker process ``ray::ServeReplica:<app>:<deployment>``."""


@dataclass
class OverloadResult:
    rate: float
    """Requests per second offered."""
    seconds: float
    statuses: Counter = field(default_factory=Counter)
    missing_retry_after: int = 0
    unanswered: Counter = field(default_factory=Counter)
    """Requests that got no HTTP answer, by the client's error (connection dropped or reset, timeout)."""
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    """Peak resident memory of each replica process seen, by its name."""

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.unanswered.values())

    def lines(self) -> list[str]:
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        rss = ", ".join(f"{name} {mb:.0f} MB" for name, mb in sorted(self.peak_rss_mb.items()))
        return [
            f"offered {self.rate:.0f} req/s for {self.seconds:.0f} s: {self.sent} requests ({codes}); "
            f"unanswered {sum(self.unanswered.values())} {dict(self.unanswered)}; "
            f"503 without Retry-After {self.missing_retry_after}",
            f"peak replica RSS: {rss or 'no replica process found'}",
        ]


class RssSampler(threading.Thread):
    """Samples the RSS of every Serve replica process on this machine until stopped."""

    def __init__(self, interval_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.interval_s, self.peak_mb, self._stop_event = interval_s, {}, threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            for process in psutil.process_iter(["pid", "cmdline", "memory_info"]):
                title = " ".join(process.info["cmdline"] or [])
                if REPLICA_PROCESS in title and process.info["memory_info"] is not None:
                    # The title also names the task the replica runs now, padded with spaces.
                    name = f"{title.split()[0].split('.')[0].removeprefix('ray::')} (pid {process.info['pid']})"
                    mb = process.info["memory_info"].rss / 2**20
                    self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), mb)

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join()
        return self.peak_mb


async def _offer(
    url: str, make_body: Callable[[int], Any], rate: float, seconds: float, headers: dict[str, str], in_flight: int
) -> OverloadResult:
    result = OverloadResult(rate, seconds)
    # Idle connections are dropped before the server's keep-alive timeout could close one under a request.
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight, keepalive_expiry=1.0)
    slots = asyncio.Semaphore(in_flight)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        async with slots:
            try:
                response = await client.post(url, json=make_body(i), headers=headers)
            except httpx.HTTPError as exc:
                result.unanswered[type(exc).__name__] += 1
                return
        result.statuses[response.status_code] += 1
        if response.status_code == 503 and "retry-after" not in response.headers:
            result.missing_retry_after += 1

    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        tasks, start = [], time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, i)))
        await asyncio.gather(*tasks)
    return result


def overload(
    url: str,
    make_body: Callable[[int], Any],
    rate: float,
    seconds: float,
    headers: dict[str, str] | None = None,
    in_flight: int = 256,
) -> OverloadResult:
    """POST at ``rate`` per second for ``seconds`` (at most ``in_flight`` open at once) to a loopback URL."""
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"load tests only go to loopback addresses, not {host!r}")
    sampler = RssSampler()
    sampler.start()
    try:
        result = asyncio.run(_offer(url, make_body, rate, seconds, headers or {}, in_flight))
    finally:
        result_rss = sampler.stop()
    result.peak_rss_mb = result_rss
    return result

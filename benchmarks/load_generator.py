"""A bounded HTTP load generator for loopback services: fixed request count and a time limit."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadResult:
    clients: int
    requests: int
    failures: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.failures) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


async def _run(url: str, bodies: list[Any], clients: int, time_limit_s: float, headers: dict[str, str]) -> LoadResult:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + time_limit_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            start = time.perf_counter()
            try:
                response = await client.post(url, json=body, headers=headers)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                failures += 1

    async with httpx.AsyncClient(timeout=max(time_limit_s, 1.0), limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        seconds = time.perf_counter() - start
    return LoadResult(clients, len(latencies) + failures, failures, seconds, latencies)


def run_load(
    url: str,
    make_body: Callable[[int], Any],
    requests: int,
    clients: int,
    time_limit_s: float,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Send ``requests`` POSTs (bodies ``make_body(i)``) from ``clients`` concurrent clients to a loopback URL."""
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"load tests only go to loopback addresses, not {host!r}")
    bodies = [make_body(i) for i in range(requests)]
    return asyncio.run(_run(url, bodies, clients, time_limit_s, headers or {}))

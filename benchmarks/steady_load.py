"""Steady loopback load in the background, with every request's outcome kept: for watching a service
change under load (replicas scaling, a replica killed) rather than for measuring its peak."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

from attnops.benchmarks.load_generator import LOOPBACK

TIMEOUT = "timeout"
"""The outcome of a request that got no answer within the client's timeout: accepted, then lost."""
CONNECTION = "connection"
"""The outcome of a request the server refused or cut at the connection level."""


@dataclass(frozen=True)
class Outcome:
    sent_s: float
    """When the request was sent (``time.monotonic()``)."""
    done_s: float
    status: int | str
    """The HTTP status, or :data:`TIMEOUT` / :data:`CONNECTION`."""


class SteadyLoad:
    """``clients`` concurrent clients posting ``body`` to a loopback ``url`` back to back, from a thread,
    until the ``with`` block ends or ``max_requests`` were sent; ``outcomes`` holds one entry per request."""

    def __init__(self, url: str, body: Any, clients: int, max_requests: int = 20_000, timeout_s: float = 60) -> None:
        if urlparse(url).hostname not in LOOPBACK:
            raise ValueError(f"load only goes to loopback addresses, not {url!r}")
        self.url, self.body, self.clients = url, body, clients
        self.max_requests, self.timeout_s = max_requests, timeout_s
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s + 10)

    def counts(self) -> Counter:
        """Outcomes by status."""
        return Counter(o.status for o in self.outcomes)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:
            await asyncio.gather(*(self._client_loop(client) for _ in range(self.clients)))

    async def _client_loop(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set() and len(self.outcomes) < self.max_requests:
            sent = time.monotonic()
            try:
                status: int | str = (await client.post(self.url, json=self.body)).status_code
            except httpx.TimeoutException:
                status = TIMEOUT
            except httpx.TransportError:
                status = CONNECTION
            self.outcomes.append(Outcome(sent, time.monotonic(), status))
            if status == CONNECTION:
                await asyncio.sleep(0.05)  # a refused connection answers at once; do not spin


def seconds_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> float | None:
    """Seconds until ``condition()`` holds, polled every ``interval_s``; None if it did not within ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if condition():
            return time.monotonic() - start
        time.sleep(interval_s)
    return None

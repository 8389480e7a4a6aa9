"""Inference log records written off the request path: a bounded queue and one writer thread.

A request only puts its records on the queue (never blocking); the writer thread takes what has gathered,
up to ``batch_size`` records or ``flush_interval_s`` after the first, and writes it to the store. A full
queue, or a store that fails (down, full disk), drops records and counts them: requests never wait for,
or fail because of, the log.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from attnops.pipelines.monitor.store import LogStore

log = logging.getLogger(__name__)

WARN_EVERY_S = 60.0
"""A failing store is reported in the log at most this often (the drop counter says how much was lost)."""


class InferenceLog:
    """Queue records for ``store``; ``on_written(n)`` and ``on_dropped(n, reason)`` count what became of them."""

    def __init__(
        self,
        store: LogStore,
        sample_rate: float = 1.0,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        on_written: Callable[[int], None] = lambda n: None,
        on_dropped: Callable[[int, str], None] = lambda n, reason: None,
    ) -> None:
        self.store = store
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.on_written, self.on_dropped = on_written, on_dropped
        self.written, self.dropped = 0, 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._warned_at = float("-inf")
        self._thread = threading.Thread(target=self._write_forever, name="inference-log", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        """Whether the next request is logged (every one at ``sample_rate`` 1)."""
        return self.sample_rate >= 1.0 or random.random() < self.sample_rate

    def put(self, records: list[dict[str, Any]]) -> None:
        """Queue ``records`` without waiting; those that do not fit are dropped and counted."""
        for i, record in enumerate(records):
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                self._drop(len(records) - i, "queue full")
                return

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _drop(self, count: int, reason: str) -> None:
        self.dropped += count
        self.on_dropped(count, reason)

    def _next_batch(self) -> tuple[list[dict[str, Any]], bool]:
        """Records that gathered (waiting for the first); whether the log was closed."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch, deadline = [first], time.monotonic() + self.flush_interval_s
        while len(batch) < self.batch_size:
            try:
                record = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if record is None:
                return batch, True
            batch.append(record)
        return batch, False

    def _write_forever(self) -> None:
        closed = False
        while not closed:
            batch, closed = self._next_batch()
            if not batch:
                continue
            try:
                self.store.write(batch)
            except Exception as exc:  # down, full or refusing: the records are lost, and counted
                self._drop(len(batch), "store error")
                if time.monotonic() - self._warned_at > WARN_EVERY_S:
                    self._warned_at = time.monotonic()
                    log.warning("inference log: %d records dropped, the store failed: %s", len(batch), exc)
                continue
            self.written += len(batch)
            self.on_written(len(batch))

"""Batches that form while the model is busy: each run takes everything that waited, up to a limit.

Ray's ``@serve.batch`` closes a batch ``batch_wait_timeout_s`` after its first item whether or not the model
is free, then queues it behind the running one; under load that makes many small batches (1.7 sentences on
average at 64 clients on the reference machine, with 125 requests waiting in the replica). Here one worker
runs one batch at a time and, when it is free, takes every item that arrived meanwhile: batches grow with
the load, and a lone item on an idle model waits at most ``wait_s`` for company.

Given a ``length``, a batch is the oldest waiting item with the waiting items closest to it in length, up to
``max_tokens`` of padded size (items × longest), so one long sentence does not pad a batch of short ones.
The oldest item always goes in the next batch: no item waits behind later ones for ever.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from attnops.pipelines.batching import length_batches

Item = TypeVar("Item")
Result = TypeVar("Result")


class BatchQueue(Generic[Item, Result]):
    """Runs ``run`` on batches of submitted items, one batch at a time, on the caller's event loop.

    ``run`` takes a list of items and returns one result per item, in order; an exception it raises is
    raised to every caller of that batch. A caller that goes away (its task cancelled) drops its item.
    """

    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[list[Result]]],
        max_batch_size: int,
        wait_s: float,
        length: Callable[[Item], int] | None = None,
        max_tokens: int | None = None,
    ):
        self._run = run
        self.max_batch_size = max_batch_size
        self.wait_s = wait_s
        """How long a batch started on an idle model waits to fill; a busy model's next batch never waits."""
        self.length = length
        """An item's length (e.g. words); None: batches in arrival order."""
        self.max_tokens = max_tokens
        """Most items × longest item per batch when ``length`` is given (None: ``max_batch_size`` only)."""
        self._waiting: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """``item``'s result, once a batch holding it has run."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        return await future

    async def _work(self) -> None:
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                await self._gather()
            batch = self._take()
            if batch:
                await self._run_batch(batch)

    async def _gather(self) -> None:
        """Give an idle model's first item up to ``wait_s`` to be joined by others."""
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while len(self._waiting) < self.max_batch_size:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        live = [entry for entry in self._waiting if not entry[1].done()]  # a cancelled caller's item is dropped
        self._waiting.clear()
        if self.length is None or len(live) <= 1:
            picked = set(range(min(len(live), self.max_batch_size)))
        else:
            lengths = [self.length(item) for item, _ in live]
            batches = length_batches(lengths, self.max_batch_size, self.max_tokens)
            picked = set(next(batch for batch in batches if 0 in batch))  # the oldest item's batch
        self._waiting.extend(entry for i, entry in enumerate(live) if i not in picked)
        return [live[i] for i in sorted(picked)]

    async def _run_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:  # every caller of the batch gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

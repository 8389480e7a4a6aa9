"""Clients sending requests in a loop while a block runs: a rollout, a shadow or a fault under live traffic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx

Outcome = TypeVar("Outcome")


@contextmanager
def looping_clients(clients: int, send: Callable[[int, httpx.Client], Outcome]) -> Iterator[list[Outcome]]:
    """``clients`` threads, each with its own connection, calling ``send(number, http)`` until the block ends;
    yields the outcomes as they arrive."""
    outcomes: list[Outcome] = []
    stop = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                outcomes.append(send(number, http))

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for thread in threads:
            thread.join()

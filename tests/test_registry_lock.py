"""The alias lock against a real ``mlflow server``: a holder that outlives its lease is broken, and its late
release must not free the lock for a third client while the client that broke it still holds it."""

from __future__ import annotations

import threading
import time

import pytest
from mlflow.exceptions import MlflowException

from attnops.pipelines import registry_lock
from attnops.pipelines.registry_lock import alias_lock

pytestmark = pytest.mark.slow

NAME = "translation-lock"
RACES = 50
WAITERS = 3
LEASE_S = 0.8
OVERRUN_S = 1.1
"""How long the slow holder keeps the block: past its lease, so a waiter breaks the lock meanwhile."""
HOLD_S = 0.05


def _race(violations: list[str], race: int) -> None:
    """A slow holder and WAITERS clients released at once; record every moment two waiters held the lock, and
    every waiter whose lock was taken from it."""
    holding: set[int] = set()
    guard = threading.Lock()
    start = threading.Barrier(WAITERS + 1, timeout=30)

    def slow_holder() -> None:
        with alias_lock(NAME, "champion"):
            start.wait()
            time.sleep(OVERRUN_S)

    def waiter(i: int) -> None:
        start.wait()
        with alias_lock(NAME, "champion", timeout_s=30):
            with guard:
                if holding:
                    violations.append(f"race {race}: waiter {i} got the lock while {sorted(holding)} held it")
                holding.add(i)
            time.sleep(HOLD_S)
            with guard:
                holding.discard(i)

    def guarded(i: int) -> None:
        try:
            waiter(i)
        except MlflowException as exc:  # e.g. its lock was deleted under it
            violations.append(f"race {race}: waiter {i}: {exc}")

    def slow_guarded() -> None:
        try:
            slow_holder()
        except MlflowException:  # its lease was broken: its release may say so, as long as it frees nothing
            pass

    threads = [threading.Thread(target=slow_guarded)]
    threads += [threading.Thread(target=guarded, args=(i,)) for i in range(WAITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), f"race {race}: a client never finished"


def test_only_the_holder_or_an_expired_holder_releases_the_lock(mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setattr(registry_lock, "LEASE_S", LEASE_S)
    violations: list[str] = []
    started = time.monotonic()
    for race in range(RACES):
        _race(violations, race)
    print(f"\n{RACES} races, {len(violations)} violations, {time.monotonic() - started:.1f} s")
    assert not violations, f"{len(violations)} violations in {RACES} races:\n" + "\n".join(violations[:10])
    with alias_lock(NAME, "champion", timeout_s=1):  # nothing left held
        pass

"""A mutex per registered model and alias, made from the registry's one atomic operation.

MLflow has no compare-and-set for aliases or tags, so two promotions that read the alias holder and the
alias history, then write both, can interleave: the alias ends at one version and its history at the
other. Creating a registered model is atomic on every backend store (a unique name, enforced by the
database), so the lock is a registered model named ``attnops-lock.<name>.<alias>``, created before and
deleted after the change. It carries an expiry time, so a lock left by a crashed client is broken
after ``LEASE_S`` seconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow.exceptions import MlflowException

from pipelines import tracking
from pipelines.errors import UserError

LOCK_PREFIX = "attnops-lock."
LEASE_S = 30.0
_EXPIRES_TAG = "attnops.lock_expires"


def lock_name(name: str, alias: str) -> str:
    return f"{LOCK_PREFIX}{name}.{alias}"


def is_lock(name: str) -> bool:
    return name.startswith(LOCK_PREFIX)


@contextmanager
def alias_lock(name: str, alias: str, timeout_s: float = 60.0) -> Iterator[None]:
    """Hold the lock of ``name@alias`` for the block; UserError if another client holds it past ``timeout_s``."""
    client = tracking.client()
    lock = lock_name(name, alias)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.create_registered_model(lock, tags={_EXPIRES_TAG: f"{time.time() + LEASE_S:.3f}"})
            break
        except MlflowException as exc:
            # The server answers a create that races the holder's delete with "does not exist": contended too.
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                raise
        _break_if_expired(client, lock)
        if time.monotonic() > deadline:
            raise UserError(f"{name}@{alias} is being changed by another client; try again")
        time.sleep(random.uniform(0.02, 0.1))  # jitter, so waiting clients do not retry in step
    try:
        yield
    finally:
        client.delete_registered_model(lock)


def _break_if_expired(client, lock: str) -> None:
    try:
        expires = float(client.get_registered_model(lock).tags.get(_EXPIRES_TAG, "inf"))
        if expires < time.time():
            client.delete_registered_model(lock)
    except MlflowException:
        pass  # released meanwhile

"""A mutex per registered model and alias, made from the registry's one atomic counter.

MLflow has no compare-and-set for aliases or tags, so two promotions that read the alias holder and the
alias history, then write both, can interleave: the alias ends at one version and its history at the
other. The lock is a queue of tickets, as in ZooKeeper's lock recipe: the tickets are the versions of a
registered model named ``attnops-lock.<name>.<alias>``. Version numbers are handed out atomically (a
unique key in the database) and never reused (a deleted version is only marked deleted), so a ticket
names one client's claim and nobody else's. A client takes a ticket, holds the lock once no lower live
ticket is left, and releases by deleting its own ticket. Each ticket carries an expiry time, renewed
while its client waits; a ticket past its expiry (a crashed client) no longer counts and is deleted by
the next waiter — by its number, so a late release or a waiter that breaks an expired ticket can never
remove another client's claim.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow.exceptions import MlflowException

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError

logger = logging.getLogger(__name__)

LOCK_PREFIX = "attnops-lock."
LEASE_S = 30.0
_EXPIRES_TAG = "attnops.lock_expires"
_TICKET_SOURCE = "attnops-lock:/ticket"
"""A model version needs a source; a ticket has no files, and a URI of no known scheme names none."""


def lock_name(name: str, alias: str) -> str:
    return f"{LOCK_PREFIX}{name}.{alias}"


def is_lock(name: str) -> bool:
    return name.startswith(LOCK_PREFIX)


def _expiry() -> str:
    return f"{time.time() + LEASE_S:.3f}"


@contextmanager
def alias_lock(name: str, alias: str, timeout_s: float = 60.0) -> Iterator[None]:
    """Hold the lock of ``name@alias`` for the block; UserError if another client holds it past ``timeout_s``."""
    client = tracking.client()
    lock = lock_name(name, alias)
    what = f"{name}@{alias}"
    ticket = _wait_for_turn(client, lock, time.monotonic() + timeout_s, what)
    try:
        yield
    finally:
        if not _delete(client, lock, ticket):
            logger.warning("%s: held past its lease of %g s, so a waiter broke the lock", what, LEASE_S)


def _take_ticket(client, lock: str) -> str:
    """A new version of the lock model (created on first use, then kept: its counter must not restart)."""
    while True:
        try:
            tags = {_EXPIRES_TAG: _expiry()}
            return str(client.create_model_version(lock, _TICKET_SOURCE, tags=tags, await_creation_for=0).version)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                _create_lock_model(client, lock)
            elif "Model Version creation error" not in exc.message:  # the store gave up on a contended counter
                raise


def _create_lock_model(client, lock: str) -> None:
    try:
        client.create_registered_model(lock)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _wait_for_turn(client, lock: str, deadline: float, what: str) -> str:
    """Take a ticket and return it once no lower ticket is live, renewing its lease meanwhile; UserError past
    ``deadline``."""
    ticket = _take_ticket(client, lock)
    try:
        while True:
            ahead = [v for v in client.search_model_versions(f"name='{lock}'") if int(v.version) < int(ticket)]
            now = time.time()
            for expired in (v for v in ahead if float(v.tags.get(_EXPIRES_TAG, "inf")) < now):
                _delete(client, lock, str(expired.version))
            try:  # the lease runs from now on, whether the lock is ours or we keep our place in the queue
                client.set_model_version_tag(lock, ticket, _EXPIRES_TAG, _expiry())
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                ticket = _take_ticket(client, lock)  # our lease ran out between two polls and a waiter broke it
                continue
            if all(float(v.tags.get(_EXPIRES_TAG, "inf")) < now for v in ahead):
                return ticket
            if time.monotonic() > deadline:
                raise UserError(f"{what} is being changed by another client; try again")
            time.sleep(random.uniform(0.02, 0.1))  # jitter, so waiting clients do not poll in step
    except BaseException:
        _delete(client, lock, ticket)
        raise


def _delete(client, lock: str, version: str) -> bool:
    """Delete one ticket; False if it was gone (released by its client, or broken by a waiter)."""
    try:
        client.delete_model_version(lock, version)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return False
    return True

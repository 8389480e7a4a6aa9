"""One hop: a single-task service whose gateway replica runs the model replica in its own process.

The gateway answers HTTP itself (direct ingress) and, by default, hands each request to the model deployment
over a deployment handle: the request and its answer are serialised, sent to another process and read back
there. With one task and one replica that hop buys nothing, and on the 2-core reference machine it was most of
the single-client overhead (docs/serving.md). :class:`ModelGateway` keeps the gateway (every route,
middleware, limit and rollout split) and calls the model replica's methods in place of the handle's.
A rollout's challenger stays a deployment of its own, called over its handle.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ray import serve

from attnops.pipelines.task import Service
from attnops.serving.app import RETRY_AFTER_S, Gateway
from attnops.serving.replica import ModelReplica


class _LocalMethod:
    def __init__(self, method: Callable[..., Any]) -> None:
        self._method = method

    def remote(self, *args: Any) -> Awaitable[Any]:
        """The method's result as an awaitable; a blocking method (status, reload) runs in a worker thread."""
        if inspect.iscoroutinefunction(self._method):
            return self._method(*args)
        return asyncio.to_thread(self._method, *args)


class LocalHandle:
    """A replica in this process, called as a deployment handle is: ``await handle.method.remote(arg)``."""

    def __init__(self, replica: ModelReplica) -> None:
        self._replica = replica

    def __getattr__(self, method: str) -> _LocalMethod:
        return _LocalMethod(getattr(self._replica, method))


@serve.deployment(backpressure_config={"retry_after_s": RETRY_AFTER_S})  # a full queue: 503 and Retry-After, as before
class ModelGateway(Gateway.func_or_class):
    """The gateway with ``task``'s model replica in its process; Serve's ``user_config`` is the replica's.

    The model deployment's request limits are the replica's own: beyond ``max_queued_requests`` waiting, Serve
    answers 503 with ``Retry-After`` before the gateway sees the request."""

    async def __init__(self, service: Service, task: str, challengers: dict[str, Any]) -> None:
        self.replica: ModelReplica = service.replica.load().func_or_class()
        self.replica.deployment = service.deployment  # metrics and inference log name the model deployment
        await super().__init__({task: service}, {task: LocalHandle(self.replica)}, challengers)

    def reconfigure(self, user_config: dict) -> None:
        self.replica.reconfigure(user_config)

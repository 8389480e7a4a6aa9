"""What every model deployment shares: loading from the registry, following the alias, live swaps, status.

A subclass (one per kind of model) adds its endpoints, which hand items to :meth:`ModelReplica.submit`, and
``run_batch``, which runs a list of them together (:class:`~attnops.serving.batching.BatchQueue` forms the batches).
A background thread follows the registry alias: a new version is loaded beside the old one, then
swapped in with one assignment, so in-flight and new requests always have a complete model.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from ray import serve
from ray.serve import metrics
from ray.serve.exceptions import RayServeException

from attnops.pipelines import tracking
from attnops.pipelines.errors import InputRejected, UserError
from attnops.pipelines.inference.artifacts import DRIFT_TAG_PREFIX
from attnops.pipelines.inference.resolve import ResolvedModel, current_version, resolve
from attnops.pipelines.monitor.store import open_store
from attnops.pipelines.redact import redact
from attnops.serving.batching import BatchQueue
from attnops.serving.observability.inference_log import InferenceLog
from attnops.serving.observability.metrics import ReplicaMetrics
from attnops.serving.schemas import ModelStatus, ServedModel
from attnops.serving.settings import ReplicaSettings

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 600.0
"""Longest wait before the alias poller tries again a version that failed to load (doubling from the poll
interval): a bad version is not downloaded again by every replica on every poll."""

REGISTRY_RETRIES = "2"
"""MLflow client retries per registry call (its default, 7, waits about 4 minutes): the alias poller asks
again at its next poll anyway, and a long wait would hold the swap lock and hide an outage from /readyz."""


def observed(endpoint: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
    """Count each call of a deployment's endpoint by the served version and its outcome (``ok``, the HTTP status
    of a rejection, or ``error``), and time it."""

    @functools.wraps(endpoint)
    async def counted(replica: ModelReplica, request: Any) -> Any:
        with replica._observing():
            return await endpoint(replica, request)

    return counted


def _deployment_name(default: str) -> str:
    """The Serve deployment this replica runs in; ``default`` when it was made outside Serve (in-process use)."""
    try:
        return serve.get_replica_context().deployment
    except RayServeException:
        return default


class RequestRejected(InputRejected):
    """A request the model cannot take; the gateway answers with its ``status``."""


@dataclass(frozen=True)
class LoadedModel:
    resolved: ResolvedModel
    backend: Any
    """The bundle's ONNX Runtime backend."""
    loaded_at: str

    def served(self) -> ServedModel:
        r = self.resolved
        return ServedModel(name=r.name, version=r.version, alias=r.alias, uri=r.uri)


class ModelReplica:
    """Base of the model deployments; ``settings_type`` parses the ``user_config``."""

    settings_type: ClassVar[type[ReplicaSettings]]
    unit: ClassVar[str] = "sentences"
    """What one batch item is, for the metrics."""
    item_length: ClassVar[Callable[[Any], int] | None] = None
    """An item's length, for batches of similar length (None: batches in arrival order)."""

    def __init__(self) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", REGISTRY_RETRIES)  # this replica's process only
        self.settings = self.settings_type()
        self.model: LoadedModel | None = None
        self.last_error: str | None = None
        self.registry_reachable = True
        self._swap_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._refused: str | None = None
        """The version that last failed to load, and when the poller may try it again."""
        self._retry_at, self._backoff_s = 0.0, 0.0
        # Exported through Ray's Prometheus endpoint beside Serve's own request counts and latencies.
        self.deployment = _deployment_name(type(self).__name__)
        self.metrics = ReplicaMetrics()
        self.inference_log: InferenceLog | None = None
        self._log_store: str | None = None
        self.items = metrics.Counter(
            f"attnops_{self.unit}_total", description=f"{self.unit} served", tag_keys=("task",)
        )
        self.batches, self.largest_batch = 0, 0
        self.queue = BatchQueue(self._run_counted, self.settings.max_batch_size, self.settings.batch_wait_timeout_s)
        self.queue.length = self.item_length

    @property
    def task(self) -> str:
        return self.settings.task

    def check_model(self, resolved: ResolvedModel) -> None:
        """Refuse a model this deployment cannot serve (raises :class:`UserError`)."""
        task = resolved.bundle.config.task
        if task != self.task:
            raise UserError(f"{resolved.uri} holds a {task} model; this deployment serves {self.task}")

    def _load(self, uri: str) -> LoadedModel:
        resolved = resolve(uri)
        self.check_model(resolved)
        backend = resolved.bundle.backend(self.settings.runtime)
        return LoadedModel(resolved, backend, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def reconfigure(self, user_config: dict) -> None:
        settings = self.settings_type.model_validate(user_config or {})
        self.queue.max_batch_size = settings.max_batch_size
        self.queue.wait_s = settings.batch_wait_timeout_s
        self.queue.length = self.item_length if settings.batch_by_length else None
        self.queue.max_tokens = settings.max_batch_tokens
        model_changed = self.model is None or settings.model_uri != self.settings.model_uri
        self.settings = settings
        self.items.set_default_tags({"task": self.task})
        self._open_inference_log()
        if model_changed and self._absent():
            self.model = None
        elif model_changed:
            self.model = self._load(settings.model_uri)  # fails start-up with the URI's message
            log.info("serving %s (version %s)", settings.model_uri, self.model.resolved.version)
            self._publish_drift()
        if self._poller is None and settings.poll_interval_s > 0:
            self._poller = threading.Thread(target=self._follow_alias, name="alias-poller", daemon=True)
            self._poller.start()

    def _open_inference_log(self) -> None:
        """Start (or stop, or move) the inference log as the settings say; what was queued is written first."""
        wanted = self.settings.inference_log
        store = wanted.store if wanted.enabled else None
        if self.inference_log is not None and store != self._log_store:
            self.inference_log.close()
            self.inference_log = None
        self._log_store = store
        if store is None:
            return
        if self.inference_log is None:
            self.inference_log = InferenceLog(
                open_store(wanted.store),
                queue_size=wanted.queue_size,
                on_written=lambda n: self.metrics.log_records.inc(n, tags={"deployment": self.deployment}),
                on_dropped=lambda n, reason: self.metrics.log_dropped.inc(
                    n, tags={"deployment": self.deployment, "reason": reason}
                ),
            )
        self.inference_log.sample_rate = wanted.sample_rate

    def _publish_drift(self) -> None:
        """Export the drift figures the last report recorded on the served version (registry tags) as gauges."""
        model = self.model
        if model is None or model.resolved.name is None:
            return
        try:
            tags = tracking.client().get_model_version(model.resolved.name, model.resolved.version).tags
        except Exception as exc:  # the gauges keep their last values; the model keeps serving
            log.warning("could not read the drift figures of the served version: %s", redact(str(exc)))
            return
        labels = {"model": model.resolved.name, "version": model.resolved.version}
        for key, value in tags.items():
            if not key.startswith(DRIFT_TAG_PREFIX):
                continue
            feature = key.removeprefix(DRIFT_TAG_PREFIX)
            if feature == "verdict":
                self.metrics.drift.set(float(value == "drift"), tags=labels)
            elif feature != "report":  # the report's location
                self.metrics.drift_score.set(float(value), tags={**labels, "feature": feature})

    def _follow_alias(self) -> None:
        """Daemon thread: it ends with the replica process."""
        while True:
            time.sleep(self.settings.poll_interval_s)
            self.reload(backoff=True)

    def reload(self, backoff: bool = False) -> ModelStatus:
        """Load the version the URI names now, if it changed; keep the old model on any error. With ``backoff``
        (the poller), a version that failed is tried again only after its back-off; an explicit reload tries
        at once."""
        with self._swap_lock:
            candidate = None
            try:
                if self._absent():
                    self.model, self.last_error, self._refused = None, None, None
                    return self.status()
                current = self.model
                candidate = current_version(self.settings.model_uri)
                if current is None or candidate != current.resolved.version:
                    if backoff and candidate == self._refused and time.monotonic() < self._retry_at:
                        return self.status()
                    self.model = self._load(self.settings.model_uri)
                    log.info("swapped to %s version %s", self.settings.model_uri, self.model.resolved.version)
                self._publish_drift()
                self.last_error, self._refused, self._backoff_s = None, None, 0.0
                self.registry_reachable = True
            except Exception as exc:  # the old model keeps serving; the error shows in /v1/models
                self.last_error = redact(f"{type(exc).__name__}: {exc}")
                self.registry_reachable = not tracking.unreachable(exc)
                if candidate is not None:
                    previous = self._backoff_s if candidate == self._refused else 0.0
                    self._backoff_s = min(max(2 * previous, self.settings.poll_interval_s), MAX_BACKOFF_S)
                    self._refused, self._retry_at = candidate, time.monotonic() + self._backoff_s
                log.warning("model reload failed (next try in %.0f s): %s", self._backoff_s, self.last_error)
        return self.status()

    def _absent(self) -> bool:
        """Whether this is an optional deployment whose alias does not exist now (it then serves nothing)."""
        if not self.settings.optional:
            return False
        try:
            current_version(self.settings.model_uri)
        except UserError:
            return True
        return False

    def status(self) -> ModelStatus:
        model = self.model
        return ModelStatus(
            task=self.task,
            model=model.served() if model else None,
            loaded_at=model.loaded_at if model else None,
            last_error=self.last_error,
            registry="reachable" if self.registry_reachable else "unreachable",
            batches=self.batches,
            largest_batch=self.largest_batch,
        )

    def loaded(self) -> LoadedModel:
        model = self.model
        if model is None:
            raise RequestRejected(503, "no model loaded yet")
        return model

    async def submit(self, item: Any) -> Any:
        """``item``'s result, run in a batch with the items of concurrent requests."""
        return await self.queue.submit(item)

    @contextmanager
    def _observing(self) -> Iterator[None]:
        model, start, status = self.model, time.perf_counter(), "ok"
        try:
            yield
        except InputRejected as exc:
            status = str(exc.status)
            raise
        except Exception:
            status = "error"
            raise
        finally:
            tags = self._model_tags(model)
            self.metrics.requests.inc(tags={**tags, "status": status})
            self.metrics.latency.observe(time.perf_counter() - start, tags=tags)

    def _model_tags(self, model: LoadedModel | None) -> dict[str, str]:
        resolved = model.resolved if model else None
        return {
            "deployment": self.deployment,
            "model": (resolved and resolved.name) or "",
            "version": (resolved and resolved.version) or "",
        }

    def log_records(self, records: list[dict[str, Any]]) -> None:
        """Queue inference log ``records`` for the store (nothing when the log is off)."""
        if self.inference_log is not None and records:
            self.inference_log.put(records)

    async def run_batch(self, items: list[Any]) -> list[Any]:
        """One result per item, in order; blocking work goes to a worker thread."""
        raise NotImplementedError

    async def _run_counted(self, items: list[Any]) -> list[Any]:
        self.metrics.batch_size.observe(len(items), tags=self._model_tags(self.model))
        self.metrics.queue_depth.set(self.queue.waiting, tags={"deployment": self.deployment})
        self.items.inc(len(items))
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(items))
        return await self.run_batch(items)

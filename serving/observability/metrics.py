"""The service's Prometheus series, recorded with Ray's metrics API and exported by each node's Ray metrics
agent (``metrics_export_port``); the gateway's ``/metrics`` relays its node's export.

Ray prefixes every application series with ``ray_``; :func:`relay` (and the scrape config's relabelling, for
node exports scraped directly) gives them back their own names, so dashboards query ``attnops_*``.
"""

from __future__ import annotations

import re

from ray.util import metrics

METRICS_PORT_ENV = "ATTNOPS_METRICS_EXPORT_PORT"
"""The port of this node's Ray metrics export, set for every replica by ``attnops serve`` and the stack."""
LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128]
MODEL_TAGS = ("deployment", "model", "version")
_RAY_PREFIX = re.compile(r"^(# (?:HELP|TYPE) )?ray_(attnops_)", re.MULTILINE)


def relay(exposition: str) -> str:
    """Ray's Prometheus text with ``ray_attnops_*`` series named ``attnops_*``."""
    return _RAY_PREFIX.sub(r"\1\2", exposition)


class ReplicaMetrics:
    """What a model deployment records: requests, latency and batch sizes per model version, its queue, its
    inference log, and the drift figures of the version it serves."""

    def __init__(self) -> None:
        self.requests = metrics.Counter(
            "attnops_requests_total",
            description="Requests answered by a model deployment, by model version and status (ok, HTTP code, error)",
            tag_keys=(*MODEL_TAGS, "status"),
        )
        self.latency = metrics.Histogram(
            "attnops_request_latency_seconds",
            description="Time a model deployment took to answer a request",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=MODEL_TAGS,
        )
        self.batch_size = metrics.Histogram(
            "attnops_batch_size",
            description="Items (sentences, documents, photos) run together",
            boundaries=BATCH_SIZE_BUCKETS,
            tag_keys=MODEL_TAGS,
        )
        self.queue_depth = metrics.Gauge(
            "attnops_queue_depth", description="Items waiting for a batch in a replica", tag_keys=("deployment",)
        )
        self.log_records = metrics.Counter(
            "attnops_inference_log_records_total",
            description="Inference log records written to the store",
            tag_keys=("deployment",),
        )
        self.log_dropped = metrics.Counter(
            "attnops_inference_log_dropped_total",
            description="Inference log records lost (queue full, or the store failed)",
            tag_keys=("deployment", "reason"),
        )
        self.drift_score = metrics.Gauge(
            "attnops_drift_score",
            description="Population stability index of a feature of logged traffic against the training reference",
            tag_keys=("model", "version", "feature"),
        )
        self.drift = metrics.Gauge(
            "attnops_drift",
            description="1 when the last drift report flagged drift on any feature, else 0",
            tag_keys=("model", "version"),
        )

"""The systems ``attnops bench serve`` compares (a light module: the CLI lists them in its help)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class System:
    """One way of serving the model: ``attnops serve`` with settings and environment, or mlflow's server."""

    label: str
    max_batch_size: int = 64
    precision: str = "fp32"
    env: dict[str, str] = field(default_factory=dict)
    mlflow: bool = False
    split: bool = False
    """A rollout split set on the service, its candidate share 0: every request takes the split's path (routing,
    confidence scores, figures) and is answered by the champion."""
    inference_log: bool = True
    """The Translator writes its inference log (Parquet, in the benchmark's temp folder)."""
    one_hop: bool = False
    """The gateway runs the Translator in its own process (the Serve config's ``args.one_hop``)."""
    batch_by_length: bool = True
    """The Translator's batch queue groups sentences of similar length (``user_config.batch_by_length``); False:
    first come, first served."""


SYSTEMS = {
    "before": System("service, Ray's default request path", env={"RAY_SERVE_THROUGHPUT_OPTIMIZED": "0"}),
    "a": System("service, dynamic batching"),
    "a-int8": System("service, dynamic batching, INT8", precision="int8"),
    "b": System("service, max_batch_size=1", max_batch_size=1),
    "a-nolog": System("service, dynamic batching, inference log off", inference_log=False),
    "c": System("mlflow models serve", mlflow=True),
    "a-split": System("service, dynamic batching, rollout split", split=True),
    "one-hop": System("service, the Translator in the gateway's process", one_hop=True),
    "one-hop-int8": System("service, the Translator in the gateway's process, INT8", precision="int8", one_hop=True),
    "a-fifo": System("service, dynamic batching, first come", batch_by_length=False),
    "one-hop-fifo": System(
        "service, the Translator in the gateway's process, first come", one_hop=True, batch_by_length=False
    ),
}
"""Every system the benchmark knows; ``--systems`` picks some (a, b and c give the headline ratios)."""
RATIOS = (("a", "b"), ("a", "c"), ("a", "before"), ("a-int8", "a"), ("a", "a-nolog"), ("one-hop", "a"))
PAIRED = (
    ("a", "a-nolog"),
    ("a-split", "a"),
    ("one-hop", "a"),
    ("one-hop-int8", "a-int8"),
    ("a", "a-fifo"),
    ("one-hop", "one-hop-fifo"),
)
"""Pairs whose p50 difference and throughput ratio are reported at every client count, round by round."""

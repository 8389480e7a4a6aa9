"""What one version did on live requests under a split: counts, latencies and the quality proxies."""

from __future__ import annotations

import statistics
from collections import Counter, deque

from pydantic import BaseModel, Field

from attnops.serving.rollout.probes import ItemScores

WINDOW = 20_000
"""Most recent observations kept per figure; a step rarely sees more on one gateway."""


class Summary(BaseModel):
    """One version's figures since the split last changed."""

    version: str | None = None
    requests: int = 0
    errors: int = Field(0, description="Requests the version failed (the client was answered by the champion).")
    error_rate: float = 0.0
    p50_latency_s: float | None = None
    p95_latency_s: float | None = None
    agreement: float | None = Field(None, description="Mean similarity of its answers to the champion's, 0 to 1.")
    mean_logprob: float | None = None
    attention_entropy: float | None = None
    labels: dict[str, int] = Field(default_factory=dict, description="Classes it gave, with their counts.")


class Figures:
    """A version's observations; :meth:`summary` condenses them."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.requests = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=WINDOW)
        self.agreement: deque[float] = deque(maxlen=WINDOW)
        self.mean_logprob: deque[float] = deque(maxlen=WINDOW)
        self.attention_entropy: deque[float] = deque(maxlen=WINDOW)
        self.labels: Counter[str] = Counter()

    def answered(self, version: str | None, latency_s: float, scores: list[ItemScores]) -> None:
        """A request the version answered, with each item's figures."""
        self.version = version or self.version
        self.requests += 1
        self.latencies.append(latency_s)
        for item in scores:
            if item.mean_logprob is not None:
                self.mean_logprob.append(item.mean_logprob)
            if item.attention_entropy is not None:
                self.attention_entropy.append(item.attention_entropy)
            if item.label is not None:
                self.labels[item.label] += 1

    def failed(self, latency_s: float) -> None:
        self.requests += 1
        self.errors += 1
        self.latencies.append(latency_s)

    def summary(self) -> Summary:
        return Summary(
            version=self.version,
            requests=self.requests,
            errors=self.errors,
            error_rate=self.errors / self.requests if self.requests else 0.0,
            p50_latency_s=_quantile(self.latencies, 50),
            p95_latency_s=_quantile(self.latencies, 95),
            agreement=_mean(self.agreement),
            mean_logprob=_mean(self.mean_logprob),
            attention_entropy=_mean(self.attention_entropy),
            labels=dict(self.labels),
        )


def _mean(values: deque[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _quantile(values: deque[float], percent: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]

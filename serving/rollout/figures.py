"""What one version did on live requests under a split: counts, latencies and the quality proxies."""

from __future__ import annotations

import statistics
from collections import deque

from pydantic import BaseModel, Field

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

    def answered(self, version: str | None, latency_s: float, scores: list[tuple[float, float]]) -> None:
        """A request the version answered, with each item's (mean log-probability, attention entropy)."""
        self.version = version or self.version
        self.requests += 1
        self.latencies.append(latency_s)
        self.scored(scores)

    def scored(self, scores: list[tuple[float, float]]) -> None:
        """Each item's (mean log-probability, attention entropy) of one of the version's answers."""
        for logprob, entropy in scores:
            self.mean_logprob.append(logprob)
            self.attention_entropy.append(entropy)

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
        )


def _mean(values: deque[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _quantile(values: deque[float], percent: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]

"""The gateway's side of a rollout: it routes each request by the split and records what each version did.

A request the candidate fails (its replica crashed, refused to load, raised) is answered by the champion
and counted against the candidate: a client never sees the candidate fail. Shadow requests run after the
client's answer, off its path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from ray.util import metrics
from starlette.responses import Response

from attnops.pipelines.errors import InputRejected
from attnops.serving.rollout.figures import Figures, Summary
from attnops.serving.rollout.probes import PROBES
from attnops.serving.rollout.split import Split, bucket
from attnops.serving.schemas import ModelStatus

log = logging.getLogger(__name__)

Call = Callable[[Any], Awaitable[Any]]
LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
GUARD_FIGURES = ("error_rate", "p95_latency_s", "agreement", "mean_logprob", "attention_entropy")


class RolloutReport(BaseModel):
    """A task's split and what each version did since it last changed."""

    split: Split | None
    champion: Summary
    candidate: Summary
    challenger: ModelStatus | None = None
    """The challenger deployment's status (what it loaded, its last error)."""


class Rollouts:
    """Splits by task, at most one each, and the figures of both versions under it."""

    def __init__(self) -> None:
        self.splits: dict[str, Split] = {}
        self.figures: dict[str, tuple[Figures, Figures]] = {}
        """Task → (champion's, candidate's)."""
        self._background: set[asyncio.Task] = set()
        tags = ("model", "version")
        self.share = metrics.Gauge("attnops_rollout_traffic_share", "Share of requests per version", tag_keys=tags)
        self.guard = metrics.Gauge(
            "attnops_rollout_guard", "Figures the rollout guards judge", tag_keys=(*tags, "guard")
        )
        self.agreement = metrics.Gauge(
            "attnops_shadow_agreement", "Candidate's agreement with the champion", tag_keys=(*tags, "metric")
        )
        self.shadow_latency = metrics.Histogram(
            "attnops_shadow_latency_seconds", "Candidate's latency on shadowed requests", LATENCY_BUCKETS, tags
        )

    def set(self, task: str, split: Split) -> None:
        """Apply ``split`` to ``task`` from now on; the figures start afresh."""
        self.splits[task] = split
        self.figures[task] = (Figures(), Figures())
        candidate_share = split.share if split.mode == "canary" else 0.0
        self.share.set(1.0 - candidate_share, {"model": split.model, "version": split.champion})
        self.share.set(candidate_share, {"model": split.model, "version": split.version})

    def clear(self, task: str) -> None:
        """Every request of ``task`` to the champion again."""
        split = self.splits.pop(task, None)
        if split is not None:
            self.share.set(1.0, {"model": split.model, "version": split.champion})
            self.share.set(0.0, {"model": split.model, "version": split.version})

    def report(self, task: str) -> RolloutReport:
        """The split and both versions' figures (also exported as gauges)."""
        split = self.splits.get(task)
        champion, candidate = self.figures.get(task, (Figures(), Figures()))
        report = RolloutReport(split=split, champion=champion.summary(), candidate=candidate.summary())
        if split is not None:
            for version, summary in ((split.champion, report.champion), (split.version, report.candidate)):
                for guard in GUARD_FIGURES:
                    value = getattr(summary, guard)
                    if value is not None:
                        self.guard.set(value, {"model": split.model, "version": version, "guard": guard})
            if split.mode == "shadow" and report.candidate.agreement is not None:
                tags = {"model": split.model, "version": split.version, "metric": "word_similarity"}
                self.agreement.set(report.candidate.agreement, tags)
        return report

    async def route(self, task: str, key: str | None, body: Any, champion: Call, candidate: Call) -> Any:
        """The answer to ``body``: from the candidate for its canary share, else from the champion."""
        split = self.splits.get(task)
        if split is None:
            return await champion(body)
        probe = PROBES[task]
        scored = probe.scored(body)
        ours, theirs = self.figures[task]
        if split.mode == "canary" and bucket(key) < split.share:
            answer = await self._candidate(task, candidate, scored, theirs)
            if answer is not None:
                self._later(self._compare(task, champion, scored, answer))
                return probe.as_asked(answer, body)
        start = time.perf_counter()
        answer = await champion(scored)
        if isinstance(answer, Response):  # the champion's own 503 (at capacity), passed on as it is
            ours.failed(time.perf_counter() - start)
            return answer
        ours.answered(answer.model.version, time.perf_counter() - start, probe.scores(answer))
        if split.mode == "shadow" and bucket(key) < split.share:
            self._later(self._shadow(task, split, candidate, scored, answer))
        return probe.as_asked(answer, body)

    async def _candidate(self, task: str, call: Call, body: Any, figures: Figures) -> Any | None:
        """The candidate's answer, or None when it failed (counted; a request it refuses as the client's fault
        is not, and the champion gives the client its refusal)."""
        start = time.perf_counter()
        try:
            answer = await call(body)
        except Exception as exc:
            if not isinstance(getattr(exc, "cause", exc), InputRejected):
                figures.failed(time.perf_counter() - start)
                log.warning("the candidate failed a request; the champion answers it: %s", type(exc).__name__)
            return None
        figures.answered(answer.model.version, time.perf_counter() - start, PROBES[task].scores(answer))
        return answer

    async def _compare(self, task: str, champion: Call, body: Any, answer: Any) -> None:
        """The champion's answer to a request the candidate answered: the candidate's agreement, and the
        champion's own figures on the same request (at a 100 % share it has no others)."""
        start = time.perf_counter()
        reference = await champion(body)
        figures = self.figures.get(task)
        if figures is None:
            return  # the split went meanwhile
        ours, theirs = figures
        if isinstance(reference, Response):
            ours.failed(time.perf_counter() - start)
            return
        ours.answered(reference.model.version, time.perf_counter() - start, PROBES[task].scores(reference))
        theirs.agreement.append(PROBES[task].agreement(answer, reference))

    async def _shadow(self, task: str, split: Split, candidate: Call, body: Any, reference: Any) -> None:
        """Send a request the champion answered to the candidate too; record its answer, never return it."""
        _, theirs = self.figures[task]
        start = time.perf_counter()
        answer = await self._candidate(task, candidate, body, theirs)
        if answer is not None:
            self.shadow_latency.observe(time.perf_counter() - start, {"model": split.model, "version": split.version})
            theirs.agreement.append(PROBES[task].agreement(answer, reference))

    def _later(self, work: Awaitable[None]) -> None:
        """Run ``work`` off the client's path, keeping a reference until it ends, logging what it raised."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a rollout comparison failed: %r", task.exception())

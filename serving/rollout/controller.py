"""The rollout controller (``attnops rollout``): moves the split step by step and judges each step.

Each step sets the candidate's share on the running service, waits its dwell time while the figures come
in, and judges the step by the guards. A failed guard sends every request back to the champion at once and
ends the rollout, ``@champion`` untouched; passing every canary step promotes the candidate through the
registry's quality gate. A service that loses the split (it restarted), a candidate that does not load, an
abort from another shell or anything unexpected ends the rollout the same way: traffic to the champion,
the outcome in the audit trail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from tqdm import tqdm

from attnops.pipelines import rollout
from attnops.pipelines.errors import UserError
from attnops.pipelines.registry import promote
from attnops.serving.auth import client_headers
from attnops.serving.rollout.guards import Guards, judge
from attnops.serving.rollout.probes import PROBES
from attnops.serving.rollout.router import RolloutReport
from attnops.serving.rollout.split import Split

POLL_S = 1.0
UNREACHABLE_S = 30.0
"""How long the service may not answer before the rollout ends as failed."""


class Service:
    """The running service's rollout API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=client_headers(), timeout=300)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UserError(f"no attnops service answers at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            detail = response.json().get("detail") if "json" in response.headers.get("content-type", "") else None
            raise UserError(f"{method} {path}: HTTP {response.status_code}: {detail or response.text}")
        return response.json()

    def reports(self) -> dict[str, RolloutReport]:
        return {task: RolloutReport.model_validate(r) for task, r in self._send("GET", "/v1/rollout").items()}

    def report(self, task: str) -> RolloutReport:
        reports = self.reports()
        if task not in reports:
            raise UserError(f"the service at {self.url} cannot roll out {task} models (no challenger deployment)")
        return reports[task]

    def reload(self) -> None:
        """The service follows its aliases now (champion and challenger deployments)."""
        self._send("POST", "/v1/models/reload")

    def split(self, task: str, split: Split) -> None:
        self._send("PUT", f"/v1/rollout/{task}", json=split.model_dump())

    def clear(self, task: str) -> None:
        self._send("DELETE", f"/v1/rollout/{task}")


@dataclass
class Ended(Exception):
    """The rollout ended before its steps did: ``outcome`` and why."""

    outcome: str
    reason: str


def roll_out(state: rollout.RolloutState, service: Service, guards: Guards, dwell_s: float) -> str:
    """Run the started rollout ``state`` to its end; returns the line that says how it ended."""
    name, version = state.name, state.version
    try:
        service.reload()
        challenger = service.report(state.task).challenger
        loaded_at = challenger.loaded_at if challenger else None
        for share in state.steps:
            split = Split(model=name, champion=state.champion, version=version, share=share, mode=state.mode)
            try:
                service.split(state.task, split)
            except UserError as exc:
                raise Ended("failed", f"the candidate is not serving: {exc}") from exc
            rollout.record(state, "traffic", share=share)
            report = _dwell(service, state, split, guards, dwell_s, loaded_at)
            verdicts = judge(report.candidate, report.champion, guards, PROBES[state.task].guards)
            passed = all(v.passed for v in verdicts)
            rollout.record(
                state,
                "step passed" if passed else "step failed",
                share=share,
                candidate=report.candidate.model_dump(),
                champion=report.champion.model_dump(),
                guards=[str(v) for v in verdicts],
            )
            print(f"{share:.0%} step: {'passed' if passed else 'FAILED'}: {'; '.join(map(str, verdicts))}", flush=True)
            if not passed:
                failed = [v for v in verdicts if not v.passed]
                outcome = "rolled back" if state.mode == "canary" else "stopped"  # a shadow sent no answers
                raise Ended(outcome, f"guard failed at {share:.0%}: {'; '.join(map(str, failed))}")
        if state.mode == "shadow":
            _end(service, state, "observed", "shadow steps passed; @champion unchanged")
            return f"{name} v{version}: shadow passed every guard; @champion stays v{state.champion}"
        promotion = promote(name, version)
        service.reload()  # the champion deployment swaps to the new holder before the split goes
        _end(service, state, "promoted", f"@champion v{promotion.previous} -> v{version}")
        return f"{name}@champion -> version {version} (was v{promotion.previous}), every step passed"
    except Ended as ended:
        _end(service, state, ended.outcome, ended.reason)
        return f"{name} v{version}: {ended.outcome}; {ended.reason}; @champion stays v{state.champion}"
    except BaseException as exc:  # Ctrl-C or anything unexpected: traffic back first, then the trail
        _end(service, state, "failed", f"{type(exc).__name__}: {exc}")
        raise


def _dwell(
    service: Service, state: rollout.RolloutState, split: Split, guards: Guards, dwell_s: float, loaded_at: str | None
) -> RolloutReport:
    """Wait out a step, watching that the split holds and that the challenger replica that loaded the candidate
    at ``loaded_at`` still serves it; the figures at its end."""
    deadline, last_seen = time.monotonic() + dwell_s, time.monotonic()
    report: RolloutReport | None = None
    with tqdm(total=round(dwell_s), desc=f"{split.share:.0%} {split.mode}", unit="s", leave=False, disable=None) as bar:
        while True:
            try:
                report = service.report(state.task)
                last_seen = time.monotonic()
            except UserError as exc:
                if time.monotonic() - last_seen > UNREACHABLE_S:
                    raise Ended("failed", f"the service stopped answering: {exc}") from exc
            if rollout.current(state.name) is None:
                raise Ended("aborted", "stopped by 'attnops rollout --abort'")
            if report is not None and report.split != split:
                raise Ended("failed", "the service lost the split (it restarted); the champion serves everything")
            if report is not None and (report.challenger is None or report.challenger.loaded_at != loaded_at):
                raise Ended("failed", "the candidate's replica crashed (it is gone or was replaced)")
            if report is not None:
                candidate = report.candidate
                bar.set_postfix(requests=candidate.requests, errors=candidate.errors)
                if candidate.requests >= guards.min_requests and candidate.error_rate > guards.max_error_rate:
                    return report  # judged now: the error guard fails whatever the rest of the dwell brings
            left = deadline - time.monotonic()
            bar.n = min(round(dwell_s - max(left, 0)), bar.total)
            bar.refresh()
            if left <= 0 and report is not None:
                return report
            time.sleep(min(POLL_S, max(left, 0.05)))


def _end(service: Service, state: rollout.RolloutState, outcome: str, reason: str) -> None:
    """Every request to the champion (when the service answers), then the outcome into the registry."""
    try:
        service.clear(state.task)
    except UserError:
        pass  # a service that does not answer holds no split once it is back
    if rollout.current(state.name) is not None:
        rollout.finish(state, outcome, reason=reason)
    try:
        service.reload()  # the challenger deployment unloads the candidate
    except UserError:
        pass

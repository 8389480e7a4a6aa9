"""The guards a rollout step must pass, judged on the live figures of both versions over the same step."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from attnops.pipelines.errors import UserError
from attnops.serving.rollout.figures import Summary


class Guards(BaseModel):
    """Thresholds; each can be overridden (``attnops rollout --guard KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    min_requests: int = Field(20, ge=1)
    """Fewest requests the candidate must have answered or failed in a step for the step to be judged."""
    max_error_rate: float = Field(0.01, ge=0.0, le=1.0)
    """Most requests the candidate may fail (each is answered by the champion instead)."""
    max_p95_ratio: float = Field(2.0, gt=0.0)
    """Most the candidate's p95 latency may be, as a multiple of the champion's over the same step."""
    min_agreement: float = Field(0.35, ge=0.0, le=1.0)
    """Least mean similarity of the candidate's answers to the champion's on the same requests."""
    max_logprob_drop: float = Field(0.2, ge=0.0)
    """Most the candidate's mean log-probability per token may lie below the champion's."""
    max_entropy_rise: float = Field(0.15, ge=0.0)
    """Most the candidate's attention entropy (0 to 1) may lie above the champion's."""
    max_class_shift: float = Field(0.2, ge=0.0, le=1.0)
    """Most the candidate's distribution of predicted classes may differ from the champion's (total variation
    distance, 0 to 1)."""

    @classmethod
    def parse(cls, overrides: list[str]) -> Guards:
        """Defaults with ``KEY=VALUE`` overrides; a bad key or value is one line naming it."""
        fields = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep:
                raise UserError(f"--guard {item!r}: give KEY=VALUE, KEY one of {', '.join(cls.model_fields)}")
            fields[key.strip()] = value.strip()
        try:
            return cls.model_validate(fields)
        except ValueError as exc:
            errors = getattr(exc, "errors", lambda: [])()
            first = errors[0] if errors else {"loc": ("?",), "msg": str(exc)}
            key = ".".join(str(part) for part in first["loc"])
            allowed = f" (keys: {', '.join(cls.model_fields)})" if first.get("type") == "extra_forbidden" else ""
            raise UserError(f"--guard {key}: {first['msg']}{allowed}") from exc


SERVICE_GUARDS = ("requests", "error_rate", "p95_ratio")
"""Guards every task's rollout is judged by; the quality guards depend on the task (its probe)."""


@dataclass(frozen=True)
class Verdict:
    guard: str
    value: float | None
    limit: float
    passed: bool

    def __str__(self) -> str:
        if self.value is None:
            value = "none"
        else:
            value = str(int(self.value)) if float(self.value).is_integer() else f"{self.value:.3g}"
        return f"{self.guard} {value} ({'ok' if self.passed else 'FAILED'}, limit {self.limit:g})"


def judge(candidate: Summary, champion: Summary, guards: Guards, quality: tuple[str, ...]) -> list[Verdict]:
    """Every guard's verdict on one step: the service's, and the ``quality`` guards the task's figures feed
    (its probe's). A figure that could not be measured fails its guard."""
    p95_ratio = _ratio(candidate.p95_latency_s, champion.p95_latency_s)
    drop = _difference(champion.mean_logprob, candidate.mean_logprob)
    rise = _difference(candidate.attention_entropy, champion.attention_entropy)
    shift = class_shift(candidate.labels, champion.labels)
    verdicts = [
        Verdict("requests", candidate.requests, guards.min_requests, candidate.requests >= guards.min_requests),
        Verdict(
            "error_rate", candidate.error_rate, guards.max_error_rate, candidate.error_rate <= guards.max_error_rate
        ),
        Verdict(
            "p95_ratio", p95_ratio, guards.max_p95_ratio, p95_ratio is not None and p95_ratio <= guards.max_p95_ratio
        ),
        Verdict(
            "agreement",
            candidate.agreement,
            guards.min_agreement,
            candidate.agreement is not None and candidate.agreement >= guards.min_agreement,
        ),
        Verdict("logprob_drop", drop, guards.max_logprob_drop, drop is not None and drop <= guards.max_logprob_drop),
        Verdict("entropy_rise", rise, guards.max_entropy_rise, rise is not None and rise <= guards.max_entropy_rise),
        Verdict("class_shift", shift, guards.max_class_shift, shift is not None and shift <= guards.max_class_shift),
    ]
    return [v for v in verdicts if v.guard in SERVICE_GUARDS or v.guard in quality]


def class_shift(ours: dict[str, int], theirs: dict[str, int]) -> float | None:
    """Total variation distance between two label distributions given as counts: half the summed absolute
    differences of the shares, 0 (the same) to 1 (no class in common)."""
    total_ours, total_theirs = sum(ours.values()), sum(theirs.values())
    if not total_ours or not total_theirs:
        return None
    return sum(abs(ours.get(k, 0) / total_ours - theirs.get(k, 0) / total_theirs) for k in {*ours, *theirs}) / 2


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def _difference(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None

"""What a rollout needs to know of a task's answers: how to ask for the confidence figures, read them, hide
them from a client that did not ask, and compare two answers to the same request. One entry per task that
can be rolled out (:data:`PROBES`)."""

from __future__ import annotations

import difflib
from typing import Any, Protocol

from attnops.serving.schemas import TranslateRequest, TranslateResponse


class Probe(Protocol):
    def scored(self, body: Any) -> Any:
        """``body`` asking for the confidence figures too."""

    def scores(self, answer: Any) -> list[tuple[float, float]]:
        """Each item's (mean log-probability, attention entropy)."""

    def as_asked(self, answer: Any, body: Any) -> Any:
        """``answer`` without what the client's ``body`` did not ask for."""

    def agreement(self, answer: Any, reference: Any) -> float:
        """How alike two answers to the same request are, 0 to 1."""


class TranslationProbe:
    def scored(self, body: TranslateRequest) -> TranslateRequest:
        return body.model_copy(update={"return_scores": True})

    def scores(self, answer: TranslateResponse) -> list[tuple[float, float]]:
        return [(t.scores.mean_logprob, t.scores.attention_entropy) for t in answer.translations if t.scores]

    def as_asked(self, answer: TranslateResponse, body: TranslateRequest) -> TranslateResponse:
        if body.return_scores:
            return answer
        translations = [t.model_copy(update={"scores": None}) for t in answer.translations]
        return answer.model_copy(update={"translations": translations})

    def agreement(self, answer: TranslateResponse, reference: TranslateResponse) -> float:
        """Mean word-sequence similarity of the two translations of each sentence (difflib's ratio:
        twice the words in matching blocks over the words of both)."""
        pairs = list(zip(answer.translations, reference.translations))
        ratios = [difflib.SequenceMatcher(None, a.text.split(), b.text.split()).ratio() for a, b in pairs]
        return sum(ratios) / len(ratios) if ratios else 0.0


PROBES: dict[str, Probe] = {"translation": TranslationProbe()}
"""Tasks that can be rolled out on live traffic."""

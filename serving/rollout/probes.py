"""What a rollout needs to know of a task's answers: how to ask for the confidence figures, read them, hide
them from a client that did not ask, and compare two answers to the same request. One entry per task that
can be rolled out (:data:`PROBES`), with the quality guards its figures feed."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Protocol

from attnops.serving.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    SummarizeRequest,
    SummarizeResponse,
    TranslateRequest,
    TranslateResponse,
)


@dataclass(frozen=True)
class ItemScores:
    """What one item of an answer (a sentence, a summary, a document's label) says of the model; None where
    the task has no such figure."""

    mean_logprob: float | None = None
    attention_entropy: float | None = None
    label: str | None = None


class Probe(Protocol):
    guards: tuple[str, ...]
    """The quality guards (:class:`~attnops.serving.rollout.guards.Guards`) the task's figures can feed."""

    def scored(self, body: Any) -> Any:
        """``body`` asking for the confidence figures too."""

    def scores(self, answer: Any) -> list[ItemScores]:
        """Each item's figures."""

    def as_asked(self, answer: Any, body: Any) -> Any:
        """``answer`` without what the client's ``body`` did not ask for."""

    def agreement(self, answer: Any, reference: Any) -> float:
        """How alike two answers to the same request are, 0 to 1."""


def word_similarity(a: str, b: str) -> float:
    """difflib's ratio over words: twice the words in matching blocks over the words of both."""
    return difflib.SequenceMatcher(None, a.split(), b.split()).ratio()


class TranslationProbe:
    guards = ("agreement", "logprob_drop", "entropy_rise")

    def scored(self, body: TranslateRequest) -> TranslateRequest:
        return body.model_copy(update={"return_scores": True})

    def scores(self, answer: TranslateResponse) -> list[ItemScores]:
        return [ItemScores(t.scores.mean_logprob, t.scores.attention_entropy) for t in answer.translations if t.scores]

    def as_asked(self, answer: TranslateResponse, body: TranslateRequest) -> TranslateResponse:
        if body.return_scores:
            return answer
        translations = [t.model_copy(update={"scores": None}) for t in answer.translations]
        return answer.model_copy(update={"translations": translations})

    def agreement(self, answer: TranslateResponse, reference: TranslateResponse) -> float:
        """Mean word similarity of the two translations of each sentence."""
        pairs = list(zip(answer.translations, reference.translations))
        return sum(word_similarity(a.text, b.text) for a, b in pairs) / len(pairs) if pairs else 0.0


class AbstractiveProbe:
    guards = ("agreement", "logprob_drop", "entropy_rise")

    def scored(self, body: SummarizeRequest) -> SummarizeRequest:
        return body.model_copy(update={"return_scores": True})

    def scores(self, answer: SummarizeResponse) -> list[ItemScores]:
        return [ItemScores(answer.scores.mean_logprob, answer.scores.attention_entropy)] if answer.scores else []

    def as_asked(self, answer: SummarizeResponse, body: SummarizeRequest) -> SummarizeResponse:
        return answer if body.return_scores else answer.model_copy(update={"scores": None})

    def agreement(self, answer: SummarizeResponse, reference: SummarizeResponse) -> float:
        """Word similarity of the two summaries."""
        return word_similarity(answer.summary, reference.summary)


class ClassificationProbe:
    guards = ("agreement", "logprob_drop", "class_shift")

    def scored(self, body: ClassifyRequest) -> ClassifyRequest:
        return body  # every answer carries the class probabilities

    def scores(self, answer: ClassifyResponse) -> list[ItemScores]:
        """The log-probability of each document's chosen class, and the class."""
        return [ItemScores(math.log(max(r.probabilities[r.label], 1e-12)), label=r.label) for r in answer.results]

    def as_asked(self, answer: ClassifyResponse, body: ClassifyRequest) -> ClassifyResponse:
        return answer

    def agreement(self, answer: ClassifyResponse, reference: ClassifyResponse) -> float:
        """Share of documents given the same class."""
        pairs = list(zip(answer.results, reference.results))
        return sum(a.label == b.label for a, b in pairs) / len(pairs) if pairs else 0.0


PROBES: dict[str, Probe] = {
    "translation": TranslationProbe(),
    "abstractive": AbstractiveProbe(),
    "classification": ClassificationProbe(),
}
"""Tasks that can be rolled out on live traffic."""

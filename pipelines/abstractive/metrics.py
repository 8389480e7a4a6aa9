"""ROUGE-1/2/L F1 (rouge-score, Porter stemming, case-insensitive) and the extractive baselines."""

from __future__ import annotations

from functools import lru_cache

from rouge_score import rouge_scorer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@lru_cache(maxsize=1)
def _scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(predictions: list[str], references: list[list[str]]) -> dict[str, float]:
    """Mean F1 ×100 of each prediction against its best-matching reference (one reference: plain ROUGE)."""
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, refs in zip(predictions, references):
        scores = _scorer().score_multi(refs, prediction)
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    return {name: 100.0 * total / max(1, len(predictions)) for name, total in totals.items()}


def rouge_both(predictions: list[str], references: list[list[str]]) -> dict[str, float]:
    """ROUGE against the original reference (``rouge1``…) and against every reference (``rouge1_multi``…)."""
    original = rouge(predictions, [refs[:1] for refs in references])
    multi = rouge(predictions, references)
    return {**original, **{f"{name}_multi": value for name, value in multi.items()}}


def lead_sentence(sentences: list[str]) -> str:
    return sentences[0] if sentences else ""


def lead_words(document: str, n: int) -> str:
    return " ".join(document.split()[:n])


def oracle_sentence(sentences: list[str], references: list[str]) -> str:
    """The document sentence with the highest ROUGE-1 + ROUGE-2 F1 against its best reference."""

    def gain(sentence: str) -> float:
        scores = _scorer().score_multi(references, sentence)
        return scores["rouge1"].fmeasure + scores["rouge2"].fmeasure

    return max(sentences, key=gain) if sentences else ""

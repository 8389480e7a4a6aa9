"""Sentence splitting (pySBD, rule-based: no model data to download) and oracle extractive labels."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

import pysbd

MIN_MATCH_CHARS = 12
"""Shorter sentences ("No.") are only labelled when they match a summary sentence exactly."""
FUZZY_RATIO = 0.9
"""difflib ratio above which a summary sentence counts as the article sentence it was taken from."""


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, paragraph by paragraph (blank lines separate paragraphs)."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        sentences += [s.strip() for s in _segmenter().segment(paragraph.strip()) if s.strip()]
    return sentences


def _squash(text: str) -> str:
    """Text without whitespace: summaries drop the space after a full stop, so compare without any."""
    return re.sub(r"\s+", "", text)


def split_summary(summary: str) -> list[str]:
    """Sentences of a BBC summary, whose sentences are glued together (``…$10.9bn.For the full-year…``)."""
    return split_sentences(re.sub(r"(?<=[a-z0-9%)'\"][.!?])(?=[A-Z\"'])", " ", summary))


@dataclass
class OracleLabels:
    """Which article sentences form the summary, and how well the summary was accounted for."""

    labels: list[int]
    """1 for each article sentence that is part of the summary."""
    summary_sentences: int
    matched_summary_sentences: int


def oracle_labels(sentences: list[str], summary: str) -> OracleLabels:
    """Label the article ``sentences`` the human ``summary`` was extracted from.

    An article sentence is in the summary when its whitespace-free text occurs in the whitespace-free
    summary (robust to the missing spaces and to different sentence boundaries). A summary sentence
    counts as matched when it lies within a labelled sentence, lies within an article sentence the
    splitter merged with a neighbour, or is at least ``FUZZY_RATIO`` similar to an article sentence
    (then that sentence is labelled too).
    """
    squashed = _squash(summary)
    article = [_squash(s) for s in sentences]
    labels = [int(len(s) >= MIN_MATCH_CHARS and s in squashed) for s in article]
    parts = split_summary(summary)
    matched = 0
    for part in map(_squash, parts):
        if any(label and (part in s or s in part) for s, label in zip(article, labels)):
            matched += 1
            continue
        # The splitter may have merged it with a neighbour ('..." "...'): label the sentence holding it.
        holder = next((i for i, s in enumerate(article) if len(part) >= MIN_MATCH_CHARS and part in s), None)
        if holder is None:
            holder = _most_similar(part, article)
        if holder is not None:
            labels[holder] = 1
            matched += 1
    return OracleLabels(labels, len(parts), matched)


def _most_similar(text: str, candidates: list[str]) -> int | None:
    """Index of the candidate at least ``FUZZY_RATIO`` similar to ``text`` (the most similar), else None."""
    best, best_ratio = None, FUZZY_RATIO
    for index, candidate in enumerate(candidates):
        matcher = SequenceMatcher(None, text, candidate)
        if matcher.real_quick_ratio() >= best_ratio and matcher.quick_ratio() >= best_ratio:
            ratio = matcher.ratio()
            if ratio >= best_ratio:
                best, best_ratio = index, ratio
    return best

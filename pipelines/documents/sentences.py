"""Sentence splitting (pySBD, rule-based: no model data to download) and oracle extractive labels.

pySBD 0.3.4's rule for periods before numbered references (``text.[1, 2] Next``) backtracks
exponentially: ``..[111 111 111 111 111 111 111 111 111]`` took 29 s, one more group ×7 (upstream issue
nipunsadvilkar/pySBD#79), and a 60-byte request held a replica. :class:`_BoundedEnglish` replaces that
rule with one whose every character has a single way to match. pySBD's other rules still cost time
quadratic in the length of what they are given (a 9.6 kB paragraph of short sentences: 0.09 s), so
paragraphs longer than :data:`CHUNK_CHARS` are split in pieces first: the time is then linear in the
text. Linear is not cheap (abbreviation-dense text costs 15–50 µs a character), so a caller with a
deadline is told once it has passed, at most one piece later. tests/documents/test_sentences.py holds the
inputs tried against it.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from difflib import SequenceMatcher

import pysbd
from pysbd.lang.english import English

from attnops.pipelines.errors import UserError

MIN_MATCH_CHARS = 12
"""Shorter sentences ("No.") are only labelled when they match a summary sentence exactly."""
FUZZY_RATIO = 0.9
"""difflib ratio above which a summary sentence counts as the article sentence it was taken from."""
CHUNK_CHARS = 2000
"""Longest text given to pySBD at once; a longer paragraph is cut after its last sentence end within it."""
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")


class _BoundedEnglish(English):
    r"""pySBD's English rules with a numbered-reference rule that cannot backtrack exponentially.

    pySBD's own ``(\d{1,3},?\s?-?\s?)*\b\d{1,3}\]`` lets a digit run split into groups in many ways
    (``111`` as ``1``+``11``, ``11``+``1``, …) and a space match either ``\s?``: a failing match tries them
    all. Here a group's digits end at a word boundary and its separator has one parse. It differs from
    pySBD's only on bracketed runs of four or more digits, which are no reference numbers anyway.
    """

    NUMBERED_REFERENCE_REGEX = (
        r"(?<=[^\d\s])(\.|∯)((\[(\d{1,3}\b,?(?:\s?-\s?|\s{1,2})?)*\b\d{1,3}\])+|((\d{1,3}\s?)?\d{1,3}))(\s)(?=[A-Z])"
    )


_thread = threading.local()


def _segmenter() -> pysbd.Segmenter:
    """This thread's segmenter: pySBD keeps the text it splits on the segmenter, so threads must not share one."""
    if not hasattr(_thread, "segmenter"):
        _thread.segmenter = pysbd.Segmenter(language="en", clean=False)
        _thread.segmenter.language_module = _BoundedEnglish
    return _thread.segmenter


class SplitTooSlow(UserError):
    """Splitting went past the caller's deadline (``time.monotonic()`` seconds)."""


def split_sentences(text: str, deadline: float | None = None) -> list[str]:
    """Sentences of ``text``, paragraph by paragraph (blank lines separate paragraphs); with a ``deadline``
    (``time.monotonic()`` seconds), :class:`SplitTooSlow` once it has passed, checked after each piece."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        for chunk in _chunks(paragraph.strip()):
            sentences += [s.strip() for s in _segmenter().segment(chunk) if s.strip()]
            if deadline is not None and time.monotonic() > deadline:
                raise SplitTooSlow(f"sentence splitting passed its deadline after {len(sentences)} sentences")
    return sentences


def _chunks(paragraph: str) -> list[str]:
    """``paragraph`` in pieces of at most :data:`CHUNK_CHARS`, each cut after a sentence end or else at a
    space where there is one."""
    chunks = []
    while len(paragraph) > CHUNK_CHARS:
        window = paragraph[: CHUNK_CHARS + 1]
        ends = [match.end() for match in _SENTENCE_END.finditer(window)]
        cut = ends[-1] if ends else (window.rfind(" ") + 1 or CHUNK_CHARS)
        chunks.append(paragraph[:cut])
        paragraph = paragraph[cut:]
    return [*chunks, paragraph]


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

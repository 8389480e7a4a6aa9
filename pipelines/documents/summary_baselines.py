"""Extractive baselines on our own sentence split: lead-k, and TextRank from ``sumy``."""

from __future__ import annotations

import re
from functools import lru_cache

from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

LANGUAGE = "english"


class _WordTokenizer:
    """What sumy needs of a tokenizer once sentences are given: words (no NLTK data downloads)."""

    language = LANGUAGE

    @staticmethod
    def to_words(sentence: str) -> list[str]:
        return re.findall(r"\w+", sentence)


@lru_cache(maxsize=1)
def _textrank() -> TextRankSummarizer:
    summarizer = TextRankSummarizer(Stemmer(LANGUAGE))
    summarizer.stop_words = get_stop_words(LANGUAGE)
    return summarizer


def lead(sentences: list[str], k: int) -> list[int]:
    """The first ``k`` sentences."""
    return list(range(min(k, len(sentences))))


def textrank(sentences: list[str], k: int) -> list[int]:
    """Indices (document order) of the ``k`` sentences TextRank ranks highest."""
    tokenizer = _WordTokenizer()
    document = ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])
    chosen = {str(s) for s in _textrank()(document, k)}
    return [i for i, s in enumerate(sentences) if s in chosen][:k]

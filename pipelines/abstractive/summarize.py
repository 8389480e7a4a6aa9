"""Summarize raw documents with any decoding backend (the PyTorch model or the ONNX Runtime sessions)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from attnops.models.search import DecodingBackend, SearchSettings, decode
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.batching import pad_sources


@dataclass
class Summary:
    """A written summary with its words, where each came from, and the attention ``(steps, source words)``.

    Attributes:
        copy: the probability of copying at each step ``(steps,)`` (None from a backend that does not report it).
        copied: per summary word, True when it is a source word outside the vocabulary (only the copy
            distribution can write it).
        score: the search's score (total log-probability, divided by the length penalty in beam search).
    """

    text: str
    words: list[str]
    source_words: list[str]
    attention: Tensor
    copy: Tensor | None
    copied: list[bool]
    score: float


def summarize(
    backend: DecodingBackend,
    codec: WordCodec,
    documents: list[str],
    settings: SearchSettings,
    max_source_words: int,
    batch_size: int = 64,
) -> list[Summary]:
    """Summaries of ``documents`` (each cut to ``max_source_words``), in input order."""
    encoded = [codec.encode_source(d, max_source_words) for d in documents]
    order = sorted(range(len(documents)), key=lambda i: len(encoded[i].ids))
    results: list[Summary | None] = [None] * len(documents)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        src, src_mask = pad_sources([encoded[i].ids for i in chunk], codec.special)  # (B, S), (B, S)
        for i, hypothesis in zip(chunk, decode(backend, src, src_mask, settings)):
            oovs = encoded[i].oovs
            results[i] = Summary(
                text=codec.decode(hypothesis.tokens, oovs),
                words=codec.tokens(hypothesis.tokens, oovs),
                source_words=encoded[i].tokens,
                attention=hypothesis.attention,
                copy=hypothesis.copy,
                copied=[t >= codec.size for t in hypothesis.tokens],
                score=hypothesis.score,
            )
    return results

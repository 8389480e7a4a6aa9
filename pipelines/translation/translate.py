"""Translate raw sentences with any decoding backend, in length-sorted batches."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from attnops.models.search import DecodingBackend, Hypothesis, SearchSettings, decode
from attnops.pipelines.batching import pad_sources
from attnops.pipelines.translation.tokenizer import TextCodec


@dataclass
class Translation:
    """A translated sentence with its tokens and attention ``(target steps, source tokens)``."""

    source: str
    text: str
    source_tokens: list[str]
    target_tokens: list[str]
    attention: Tensor


def translate(
    backend: DecodingBackend, codec: TextCodec, texts: list[str], settings: SearchSettings, batch_size: int = 64
) -> list[Translation]:
    """Translate ``texts``; results come back in input order."""
    ids = codec.encode_source(texts)
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    results: list[Translation | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        src, src_mask = pad_sources([ids[i] for i in chunk], codec.special)  # (B, S), (B, S)
        hypotheses = decode(backend, src, src_mask, settings)
        texts_out = codec.decode_target([h.tokens for h in hypotheses])
        for i, hypothesis, text in zip(chunk, hypotheses, texts_out):
            results[i] = Translation(
                source=texts[i],
                text=text,
                source_tokens=codec.source_tokens(ids[i]),
                target_tokens=_target_tokens(codec, hypothesis),
                attention=hypothesis.attention,
            )
    return results


def _target_tokens(codec: TextCodec, hypothesis: Hypothesis) -> list[str]:
    """One token per attention row: ``</s>`` only where the search emitted it (not when cut at max_length)."""
    ended = hypothesis.attention.shape[0] > len(hypothesis.tokens)  # the EOS step has its own row
    return codec.target_tokens(hypothesis.tokens + [codec.special.eos] if ended else hypothesis.tokens)

"""Translate raw sentences with any decoding backend, in length-sorted batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from models.search import DecodingBackend, SearchSettings, decode
from pipelines.batching import pad_sources
from pipelines.config import CaptioningConfig, TranslationConfig
from pipelines.tokenizer import TextCodec

if TYPE_CHECKING:
    from pipelines.captions import CaptionCodec


def search_settings(
    config: TranslationConfig | CaptioningConfig, codec: TextCodec | CaptionCodec, beam_size: int | None = None
) -> SearchSettings:
    """The config's decoding settings (translation or captioning), with an optional other beam size."""
    special = codec.special
    return SearchSettings(
        bos=special.bos,
        eos=special.eos,
        pad=special.pad,
        beam_size=beam_size or config.train.eval_beam_size,
        max_length=config.train.max_decode_length,
        length_penalty=config.train.length_penalty,
        no_repeat_ngram=config.train.no_repeat_ngram,
    )


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
                target_tokens=[*codec.target_tokens(hypothesis.tokens), "</s>"],
                attention=hypothesis.attention,
            )
    return results

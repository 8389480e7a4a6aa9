"""Search settings of the tasks that generate text (translation, captioning) from their config and codec."""

from __future__ import annotations

from typing import Any, Protocol

from models.search import SearchSettings
from models.seq2seq import SpecialTokens
from pipelines.config import DecodingTrainConfig


class _DecodingConfig(Protocol):
    train: DecodingTrainConfig


class _Codec(Protocol):
    special: SpecialTokens


def search_settings(config: _DecodingConfig, codec: _Codec, beam_size: int | None = None) -> SearchSettings:
    """The config's decoding settings, with an optional other beam size."""
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


def beam_param(params: dict[str, Any] | None) -> int | None:
    """The ``beam_size`` param of a pyfunc call (absent or 0: the model's config)."""
    return int((params or {}).get("beam_size") or 0) or None

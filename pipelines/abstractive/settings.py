"""Search settings of a summarization config: the shared decoding settings plus a minimum length."""

from __future__ import annotations

from dataclasses import replace

from attnops.models.search import SearchSettings
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.config import AbstractiveConfig
from attnops.pipelines.inference.decoding import search_settings


def summary_settings(
    config: AbstractiveConfig, codec: WordCodec, beam_size: int | None = None, length_penalty: float | None = None
) -> SearchSettings:
    settings = search_settings(config, codec, beam_size, length_penalty)
    return replace(settings, min_length=config.train.min_decode_length)

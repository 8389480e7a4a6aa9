"""Search settings of the tasks that generate text (translation, captioning) from their config and codec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from attnops.models.search import SearchSettings
from attnops.models.seq2seq import SpecialTokens
from attnops.pipelines.config import DecodingTrainConfig
from attnops.pipelines.errors import UserError

MAX_BEAM_SIZE = 16
MAX_LENGTH_PENALTY = 5.0


class _DecodingConfig(Protocol):
    train: DecodingTrainConfig


class _Codec(Protocol):
    special: SpecialTokens


def search_settings(
    config: _DecodingConfig, codec: _Codec, beam_size: int | None = None, length_penalty: float | None = None
) -> SearchSettings:
    """The config's decoding settings, with an optional other beam size and length penalty."""
    special = codec.special
    return SearchSettings(
        bos=special.bos,
        eos=special.eos,
        pad=special.pad,
        beam_size=beam_size or config.train.eval_beam_size,
        max_length=config.train.max_decode_length,
        length_penalty=config.train.length_penalty if length_penalty is None else length_penalty,
        no_repeat_ngram=config.train.no_repeat_ngram,
    )


@dataclass(frozen=True)
class SearchOverride:
    """Search settings of one evaluation in place of the run config's (None keeps the config's), e.g. to
    choose a beam size and length penalty on the validation split."""

    beam_size: int | None = None
    length_penalty: float | None = None

    def check(self) -> None:
        if self.beam_size is not None and not 1 <= self.beam_size <= MAX_BEAM_SIZE:
            raise UserError(f"--beam-size {self.beam_size} must be between 1 and {MAX_BEAM_SIZE}")
        if self.length_penalty is not None and not 0.0 <= self.length_penalty <= MAX_LENGTH_PENALTY:
            raise UserError(f"--length-penalty {self.length_penalty} must be between 0 and {MAX_LENGTH_PENALTY}")

    def suffix(self, config: _DecodingConfig) -> str:
        """What metric names carry, so figures of other settings never overwrite the run's own: ``_beam5``,
        ``_lp0.6``, both, or nothing for the config's settings."""
        beam = "" if self.beam_size in (None, config.train.eval_beam_size) else f"_beam{self.beam_size}"
        penalty = "" if self.length_penalty in (None, config.train.length_penalty) else f"_lp{self.length_penalty:g}"
        return beam + penalty

    def settings(self, config: _DecodingConfig, codec: _Codec) -> SearchSettings:
        return search_settings(config, codec, self.beam_size, self.length_penalty)


CONFIG_SEARCH = SearchOverride()
"""No override: the run config's own search settings."""


def beam_param(params: dict[str, Any] | None) -> int | None:
    """The ``beam_size`` param of a pyfunc call (absent or 0: the model's config)."""
    return int((params or {}).get("beam_size") or 0) or None

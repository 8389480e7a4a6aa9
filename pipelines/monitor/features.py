"""Per-sentence signals of a translation: what the input looks like and how the model handled it.

The same function describes served requests (written to the inference log) and the validation split at
training time (the reference a drift report compares with), so both sides are measured one way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from attnops.models.search import SearchSettings

if TYPE_CHECKING:
    from attnops.pipelines.translation.translate import Translation

WORD_START = "▁"
"""Metaspace's mark of a token that starts a word."""
UNKNOWN = "<unk>"
COVERED = 0.5
"""A source token counts as covered once the decoder's attention on it, summed over the steps, reaches this."""
DRIFT_FEATURES = (
    "source_tokens",
    "oov_share",
    "target_tokens",
    "mean_log_prob",
    "attention_entropy",
    "attention_coverage",
)
"""The features a drift report compares, in report order; ``copy_share`` joins them for pointer models."""


@dataclass(frozen=True)
class Signals:
    """What one decoded sentence tells about its input and the model's confidence."""

    source_tokens: int
    """Source length in subword tokens."""
    oov_share: float
    """Share of source words the vocabulary does not hold whole (split into pieces, or unknown)."""
    target_tokens: int
    """Output length in tokens (without the end of sentence)."""
    mean_log_prob: float
    """Mean log-probability of each decoding step's chosen token (the end of sentence included)."""
    attention_entropy: float
    """Mean over decoding steps of the attention's entropy over the source, divided by its maximum, log(S):
    0 is attention on one token, 1 attention spread evenly."""
    attention_coverage: float
    """Share of source tokens whose attention, summed over the steps, reaches :data:`COVERED`."""
    copy_share: float | None = None
    """Mean probability of copying from the source per step, for pointer-generator models."""

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def oov_share(source_tokens: list[str]) -> float:
    """Share of words (Metaspace pieces from one word start to the next) that hold the unknown token or more
    than one piece with a letter or digit in it (punctuation pieces do not count)."""
    words, split = 0, 0
    pieces, unknown = 0, False
    for token in [*source_tokens, WORD_START]:  # the sentinel closes the last word
        if token.startswith(WORD_START) and (pieces or unknown):
            words += 1
            split += pieces > 1 or unknown
            pieces, unknown = 0, False
        if token == UNKNOWN:
            unknown = True
        elif any(c.isalnum() for c in token):
            pieces += 1
    return split / words if words else 0.0


def mean_log_prob(score: float, steps: int, settings: SearchSettings) -> float:
    """The mean per-step log-probability behind a hypothesis's ``score`` over ``steps`` attention rows: beam
    search divides the total by its GNMT length penalty, greedy search does not."""
    total = score * ((5.0 + steps) / 6.0) ** settings.length_penalty if settings.beam_size > 1 else score
    return total / max(steps, 1)


def attention_signals(attention: Tensor) -> tuple[float, float]:
    """Normalised entropy and coverage of decoder attention ``(T, S)``."""
    steps, source = attention.shape
    if steps == 0 or source == 0:
        return 0.0, 0.0
    weights = attention.float().clamp_min(1e-12)  # (T, S)
    entropy = -(weights * weights.log()).sum(dim=-1)  # (T,)
    normalised = float(entropy.mean()) / math.log(source) if source > 1 else 0.0
    coverage = float((attention.float().sum(dim=0) >= COVERED).float().mean())  # share of (S,)
    return normalised, coverage


def signals(
    source_tokens: list[str],
    target_length: int,
    attention: Tensor,
    score: float,
    settings: SearchSettings,
    copy: Tensor | None = None,
) -> Signals:
    """The :class:`Signals` of one decoded sentence: its source token strings, its length in target tokens (no
    end of sentence), attention ``(T, S)`` with one row per decoding step, the search's ``score`` and, for
    pointer models, the copy probability per step ``(T,)``."""
    entropy, coverage = attention_signals(attention)
    return Signals(
        source_tokens=len(source_tokens),
        oov_share=oov_share(source_tokens),
        target_tokens=target_length,
        mean_log_prob=mean_log_prob(score, attention.shape[0], settings),
        attention_entropy=entropy,
        attention_coverage=coverage,
        copy_share=None if copy is None else float(copy.float().mean()),
    )


def translation_signals(translation: Translation, settings: SearchSettings) -> Signals:
    """The :class:`Signals` of a sentence :func:`~attnops.pipelines.translation.translate.translate` decoded with
    ``settings``."""
    return signals(
        translation.source_tokens,
        translation.length,
        translation.attention,
        translation.score,
        settings,
    )

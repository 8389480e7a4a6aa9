"""Attention scorers and the attention modules that use them.

Every scorer maps a query sequence and a key sequence to raw alignment scores::

    forward(query (B, Tq, Dq), keys (B, Tk, Dk)) -> scores (B, Tq, Tk)

split in two so that a decoder can prepare the keys once per sentence instead of once per step:
``prepare_keys(keys)`` (the key-side projection, if any) and ``score(query, prepared_keys)``.

:class:`Attention` turns scores into weights and a context vector once for all scorers: it applies
the padding mask, the softmax and the weighted sum. :class:`MultiHeadAttention` offers the same
``(query, keys, values, mask) -> AttentionOutput`` interface with several scaled dot-product heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class AttentionOutput:
    """What an attention module returns.

    Attributes:
        context: weighted sum of the values, ``(B, Tq, Dv)``.
        weights: attention distribution over the keys, ``(B, Tq, Tk)``; masked keys get exactly 0.
    """

    context: Tensor
    weights: Tensor


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last axis where ``mask`` is True; masked positions get exactly zero.

    Args:
        scores: ``(..., Tq, Tk)`` raw scores.
        mask: ``(B, Tk)`` bool, True for real keys; broadcast over the leading and query axes.
    """
    # Expand (B, Tk) to (B, 1, ..., 1, Tk) so it lines up with scores of any rank.
    key_mask = mask.view(mask.shape[0], *([1] * (scores.dim() - 2)), mask.shape[1])
    return torch.softmax(scores.masked_fill(~key_mask, float("-inf")), dim=-1)


class Scorer(nn.Module):
    """Base of the scorers: ``forward(query, keys) = score(query, prepare_keys(keys))``."""

    def prepare_keys(self, keys: Tensor) -> Tensor:
        """Key-side projection, ``(B, Tk, Dk) -> (B, Tk, D')``; none by default."""
        return keys

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """Scores ``(B, Tq, Tk)`` from queries ``(B, Tq, Dq)`` and prepared keys."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.score(query, self.prepare_keys(keys))  # (B, Tq, Tk)


class DotScore(Scorer):
    """Luong dot score: ``score(q, k) = qᵀ k``. Needs ``Dq == Dk``."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        if query_dim != key_dim:
            raise ValueError(f"dot attention needs query_dim == key_dim, got {query_dim} and {key_dim}")

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))  # (B, Tq, Tk)


class ScaledDotScore(DotScore):
    """Scaled dot score (Vaswani et al.): ``score(q, k) = qᵀ k / √D``."""

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return super().score(query, keys) / math.sqrt(query.shape[-1])  # (B, Tq, Tk)


class GeneralScore(DotScore):
    """Luong general (multiplicative) score: ``score(q, k) = qᵀ W k``."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        nn.Module.__init__(self)
        self.key_proj = nn.Linear(key_dim, query_dim, bias=False)  # W

    def prepare_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # (B, Tk, Dq)


class AdditiveScore(Scorer):
    """Bahdanau additive (concat) score: ``score(q, k) = vᵀ tanh(W₁ q + W₂ k)``."""

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden_dim = hidden_dim or query_dim
        self.query_proj = nn.Linear(query_dim, hidden_dim, bias=False)  # W₁
        self.key_proj = nn.Linear(key_dim, hidden_dim)  # W₂ (its bias is the concat layer's bias)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def prepare_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # (B, Tk, H)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        q = self.query_proj(query).unsqueeze(2)  # (B, Tq, 1, H)
        return self.v(torch.tanh(q + keys.unsqueeze(1))).squeeze(-1)  # (B, Tq, Tk)


class Attention(nn.Module):
    """Single-head attention around any scorer: mask, softmax and weighted sum, done once."""

    def __init__(self, scorer: Scorer) -> None:
        super().__init__()
        self.scorer = scorer

    def prepare_keys(self, keys: Tensor) -> Tensor:
        """Key-side work that does not depend on the query, ``(B, Tk, Dk) -> (B, Tk, D')``."""
        return self.scorer.prepare_keys(keys)

    def attend(self, query: Tensor, prepared_keys: Tensor, values: Tensor, mask: Tensor) -> AttentionOutput:
        """Attend from ``query`` over keys already passed through :meth:`prepare_keys`."""
        weights = masked_softmax(self.scorer.score(query, prepared_keys), mask)  # (B, Tq, Tk)
        return AttentionOutput(context=torch.bmm(weights, values), weights=weights)  # (B, Tq, Dv)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> AttentionOutput:
        """Attend from ``query`` over ``keys``/``values``.

        Args:
            query: ``(B, Tq, Dq)``.
            keys: ``(B, Tk, Dk)``.
            values: ``(B, Tk, Dv)``.
            mask: ``(B, Tk)`` bool, True for real (non-padding) keys.
        """
        return self.attend(query, self.prepare_keys(keys), values, mask)


class MultiHeadAttention(nn.Module):
    """Several scaled dot-product heads over learned projections (Vaswani et al.).

    The context comes from :func:`torch.nn.functional.scaled_dot_product_attention`; the returned
    weights are the heads' distributions averaged, so they stay available for inspection.
    """

    def __init__(self, query_dim: int, key_dim: int, value_dim: int, num_heads: int, model_dim: int) -> None:
        super().__init__()
        if model_dim % num_heads:
            raise ValueError(f"attention dim {model_dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.query_proj = nn.Linear(query_dim, model_dim)
        self.key_proj = nn.Linear(key_dim, model_dim)
        self.value_proj = nn.Linear(value_dim, model_dim)
        self.out_proj = nn.Linear(model_dim, value_dim)

    def _split_heads(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2)  # (B, nh, T, hs)

    def prepare_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # (B, Tk, D)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> AttentionOutput:
        """Same arguments as :meth:`Attention.forward`; the context has ``Dv`` features."""
        return self.attend(query, self.prepare_keys(keys), values, mask)

    def attend(self, query: Tensor, prepared_keys: Tensor, values: Tensor, mask: Tensor) -> AttentionOutput:
        """Attend from ``query`` over keys already passed through :meth:`prepare_keys`."""
        q = self._split_heads(self.query_proj(query))  # (B, nh, Tq, hs)
        k = self._split_heads(prepared_keys)  # (B, nh, Tk, hs)
        v = self._split_heads(self.value_proj(values))  # (B, nh, Tk, hs)
        head_mask = mask[:, None, None, :]  # (B, 1, 1, Tk)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=head_mask)  # (B, nh, Tq, hs)
        b, _, tq, _ = context.shape
        context = self.out_proj(context.transpose(1, 2).reshape(b, tq, -1))  # (B, Tq, Dv)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, nh, Tq, Tk)
        weights = masked_softmax(scores, mask).mean(dim=1)  # (B, Tq, Tk)
        return AttentionOutput(context=context, weights=weights)


SCORERS: dict[str, type[Scorer]] = {
    "dot": DotScore,
    "general": GeneralScore,
    "additive": AdditiveScore,
    "scaled_dot": ScaledDotScore,
}
"""Single-head scorers by name; each is wrapped in :class:`Attention`."""

ATTENTION_NAMES: tuple[str, ...] = (*SCORERS, "multihead")
"""Every attention variant a config may name."""


def build_attention(
    name: str, query_dim: int, key_dim: int, value_dim: int, num_heads: int = 4
) -> Attention | MultiHeadAttention:
    """Build the attention module registered as ``name``.

    Args:
        name: one of :data:`ATTENTION_NAMES`.
        query_dim, key_dim, value_dim: feature sizes of queries, keys and values.
        num_heads: heads for ``multihead`` (its projection size is ``query_dim``).
    """
    if name == "multihead":
        return MultiHeadAttention(query_dim, key_dim, value_dim, num_heads, model_dim=query_dim)
    if name not in SCORERS:
        raise ValueError(f"unknown attention {name!r}; allowed: {', '.join(ATTENTION_NAMES)}")
    return Attention(SCORERS[name](query_dim, key_dim))

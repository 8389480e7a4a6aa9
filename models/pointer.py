"""Pointer-generator decoding with coverage (See et al. 2017, "Get To The Point").

Source ids are *extended*: a source word outside the vocabulary gets id ``V + j`` for its first
position ``j`` in that source, so a copied rare word can be written back as itself. The encoder and the
decoder's embeddings see such ids as ``<unk>``; the step's output is the mixed distribution over the
extended vocabulary of ``V + S`` ids::

    p_gen = σ(w_h·h*_t + w_s·s_t + w_x·x_t + b)
    P(w)  = p_gen · P_vocab(w) + (1 - p_gen) · Σ_{i: src_i = w} a_i^t

Coverage ``c^t = Σ_{t' < t} a^{t'}`` is added to the scorer's prepared keys (``keys + w_c c_i``: for the
additive scorer exactly the paper's ``vᵀ tanh(W_h h_i + W_s s_t + w_c c_i + b)``), and the coverage loss
``Σ_i min(a_i^t, c_i^t)`` penalises attending again where attention has already been.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from attnops.models.config import Seq2SeqConfig
from attnops.models.decoder import AttentionalDecoder, BahdanauDecoder, DecoderState, LuongDecoder, StepOutput
from attnops.models.encoder import EncoderOutput
from attnops.models.seq2seq import Seq2Seq, SpecialTokens

MIN_PROBABILITY = 1e-10
"""Floor of the mixed distribution before its log (ids no word maps to have probability 0)."""


class PointerStep(AttentionalDecoder):
    """Adds copy and coverage to a decoder style (mixed in before it, e.g. ``PointerBahdanau``)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, **kwargs) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_size, **kwargs)
        self.vocab_size = vocab_size
        self.unk = SpecialTokens().unk  # the model sets its own
        self.coverage_proj = nn.Linear(1, hidden_size, bias=False)  # w_c, into the prepared keys' space
        self.switch = nn.Linear(2 * hidden_size + embedding_dim, 1)  # [h*; s; x] -> p_gen logit

    def init_state(self, encoded: EncoderOutput) -> DecoderState:
        state = super().init_state(encoded)
        return replace(state, coverage=torch.zeros_like(encoded.mask, dtype=encoded.states.dtype))  # (B, S)

    def _attend(self, query: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        keys = state.keys + self.coverage_proj(state.coverage.unsqueeze(-1))  # (B, S, D)
        out = self.attention.attend(query.unsqueeze(1), keys, state.memory, state.memory_mask)
        return out.context.squeeze(1), out.weights.squeeze(1)

    def in_vocabulary(self, ids: Tensor) -> Tensor:
        """Extended ids with every id ``>= V`` replaced by ``<unk>``."""
        return ids.masked_fill(ids >= self.vocab_size, self.unk)

    def step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        """Previous tokens ``(B,)`` (extended ids) → log of the mixed distribution ``(B, V + S)``."""
        tokens = self.in_vocabulary(tokens)
        out = super().step(tokens, state)
        weights = out.attention  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), state.memory).squeeze(1)  # (B, H): h*_t
        embedded = self.embedding(tokens)  # (B, E)
        p_gen = torch.sigmoid(self.switch(torch.cat([context, out.state.rnn[:, 0], embedded], dim=-1)))  # (B, 1)
        generated = p_gen * torch.softmax(out.logits, dim=-1)  # (B, V)
        mixed = torch.cat([generated, torch.zeros_like(weights)], dim=-1)  # (B, V + S)
        mixed = mixed.scatter_add(1, state.source_ids, (1.0 - p_gen) * weights)  # (B, V + S)
        return StepOutput(
            logits=torch.log(mixed.clamp_min(MIN_PROBABILITY)),
            state=replace(out.state, coverage=state.coverage + weights),
            attention=weights,
            copy=(1.0 - p_gen).squeeze(-1),  # (B,)
        )


class PointerBahdanau(PointerStep, BahdanauDecoder):
    """Bahdanau decoder with copy and coverage."""


class PointerLuong(PointerStep, LuongDecoder):
    """Luong decoder with copy and coverage."""


POINTER_DECODERS: dict[str, type[AttentionalDecoder]] = {"bahdanau": PointerBahdanau, "luong": PointerLuong}


class PointerGenerator(Seq2Seq):
    """A :class:`Seq2Seq` whose ``src`` holds extended ids and whose steps copy; same two boundaries."""

    decoders = POINTER_DECODERS

    def __init__(self, config: Seq2SeqConfig, vocab_size: int, special: SpecialTokens) -> None:
        super().__init__(config, vocab_size, vocab_size, special)
        self.decoder.unk = special.unk

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        """Encode extended source ids ``(B, S)``; the state keeps them for the copy distribution."""
        state = self.decoder.init_state(self.encoder(self.decoder.in_vocabulary(src), src_mask))
        return replace(state, source_ids=src)


def pointer_nll(log_probs: Tensor, targets: Tensor, pad: int) -> Tensor:
    """Mean negative log-likelihood of ``targets (B, T)`` (extended ids) under ``log_probs (B, T, V + S)``."""
    mask = targets != pad  # (B, T)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return -(picked * mask).sum() / mask.sum()


def coverage_loss(weights: Tensor, target_mask: Tensor) -> Tensor:
    """Mean over target steps of ``Σ_i min(a_i^t, c_i^t)``, with ``c^t`` the attention of the earlier steps.

    Args:
        weights: attention ``(B, T, S)`` of teacher-forced steps.
        target_mask: ``(B, T)`` bool, True for real target steps.
    """
    coverage = weights.cumsum(dim=1) - weights  # (B, T, S): c^t excludes step t
    per_step = torch.minimum(weights, coverage).sum(dim=-1)  # (B, T)
    return (per_step * target_mask).sum() / target_mask.sum()

"""Attentional RNN decoders with one ``step`` that both training and search use.

Two styles, registered in :data:`DECODERS`:

- ``bahdanau``: attend with the previous state, then update the RNN with ``[y_{t-1}; c_t]``;
  the output layer sees ``[s_t; c_t; y_{t-1}]`` (Bahdanau et al. 2015).
- ``luong``: update the RNN with ``[y_{t-1}; h̃_{t-1}]`` (input feeding), attend with the new state,
  ``h̃_t = tanh(W_c [c_t; s_t])`` feeds the output layer and the next step (Luong et al. 2015).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnops.models.attention import build_attention
from attnops.models.encoder import EncoderOutput


@dataclass(kw_only=True)
class DecoderState:
    """Everything one decoding step needs; every field is batch-first.

    Attributes:
        rnn: recurrent state ``(B, K, H)``: K=1 for a GRU (h), K=2 for an LSTM (h, c); None for a Transformer.
        memory: encoder states, the attention values ``(B, S, H)``; a Transformer's per-layer values ``(B, S, L, D)``.
        keys: encoder states after the scorer's key projection, ``(B, S, D)``; per layer ``(B, S, L, D)``.
        memory_mask: ``(B, S)`` bool, True for real source tokens.
        feed: the previous attentional vector ``(B, H)`` (Luong input feeding); None for Bahdanau.
        coverage: attention summed over the previous steps ``(B, S)`` (pointer decoders); None otherwise.
        source_ids: extended-vocabulary source ids ``(B, S)``, where the copy distribution lands (pointer
            decoders); None otherwise.
        past_keys: each decoder layer's self-attention keys of the target steps so far ``(B, P, L, D)``
            (Transformer decoders); None otherwise.
        past_values: the matching values ``(B, P, L, D)``; None otherwise.
    """

    rnn: Tensor | None = None
    memory: Tensor
    keys: Tensor
    memory_mask: Tensor
    feed: Tensor | None = None
    coverage: Tensor | None = None
    source_ids: Tensor | None = None
    past_keys: Tensor | None = None
    past_values: Tensor | None = None


RECURRENT_FIELDS = ("rnn", "feed", "coverage", "past_keys", "past_values")
"""The :class:`DecoderState` fields a step replaces; the others are fixed once a sentence is encoded."""


def map_state(state: DecoderState, fn: Callable[[Tensor], Tensor]) -> DecoderState:
    """Apply ``fn`` to every tensor of ``state`` (used to reorder or expand the batch)."""
    return replace(state, **{f.name: fn(v) for f in fields(state) if (v := getattr(state, f.name)) is not None})


@dataclass
class StepOutput:
    """One decoding step: ``logits (B, V)``, the new state and attention weights ``(B, S)``.

    A pointer decoder's ``logits`` are the log-probabilities of its mixed distribution over the extended
    vocabulary, and ``copy`` ``(B,)`` is the probability it gave to copying (``1 - p_gen``).
    """

    logits: Tensor
    state: DecoderState
    attention: Tensor
    copy: Tensor | None = None


class RecurrentCell(nn.Module):
    """A GRU or LSTM cell whose state is one ``(B, K, H)`` tensor."""

    def __init__(self, rnn_type: str, input_size: int, hidden_size: int) -> None:
        super().__init__()
        if rnn_type not in ("gru", "lstm"):
            raise ValueError(f"unknown rnn_type {rnn_type!r}; allowed: gru, lstm")
        self.is_lstm = rnn_type == "lstm"
        self.cell = (nn.LSTMCell if self.is_lstm else nn.GRUCell)(input_size, hidden_size)

    def initial(self, hidden: Tensor) -> Tensor:
        """State ``(B, K, H)`` from an initial hidden vector ``(B, H)`` (LSTM cell starts at zero)."""
        parts = [hidden, torch.zeros_like(hidden)] if self.is_lstm else [hidden]
        return torch.stack(parts, dim=1)

    def forward(self, x: Tensor, state: Tensor) -> Tensor:
        if self.is_lstm:
            return torch.stack(self._lstm_step(x, state[:, 0], state[:, 1]), dim=1)  # (B, 2, H)
        return self._gru_step(x, state[:, 0]).unsqueeze(1)  # (B, 1, H)

    def _gru_step(self, x: Tensor, h: Tensor) -> Tensor:
        """``nn.GRUCell``'s maths on its own parameters, written out: ONNX export of ``gru_cell`` fails
        ("unsafe_chunk, unknown dimension size") when its input comes from multi-head attention."""
        cell = self.cell
        i_r, i_z, i_n = F.linear(x, cell.weight_ih, cell.bias_ih).split(cell.hidden_size, dim=-1)  # (B, H) each
        h_r, h_z, h_n = F.linear(h, cell.weight_hh, cell.bias_hh).split(cell.hidden_size, dim=-1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h

    def _lstm_step(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """``nn.LSTMCell``'s maths on its own parameters, written out: ONNX export of ``lstm_cell``
        fails with a dynamic batch axis."""
        cell = self.cell
        gates = F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(h, cell.weight_hh, cell.bias_hh)
        i, f, g, o = gates.split(cell.hidden_size, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class AttentionalDecoder(nn.Module):
    """Shared parts of the decoders; subclasses define the step maths and the RNN input size."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        rnn_type: str,
        attention: str,
        num_heads: int,
        dropout: float,
        pad_id: int,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.bridge = nn.Linear(hidden_size, hidden_size)  # encoder summary -> initial state
        self.cell = RecurrentCell(rnn_type, embedding_dim + hidden_size, hidden_size)  # input [y; c or h̃]
        self.attention = build_attention(attention, hidden_size, hidden_size, hidden_size, num_heads)
        self.dropout = nn.Dropout(dropout)
        self.generator = nn.Linear(hidden_size, vocab_size)

    def init_state(self, encoded: EncoderOutput) -> DecoderState:
        """The state before the first target token."""
        hidden = torch.tanh(self.bridge(encoded.summary))  # (B, H)
        return DecoderState(
            rnn=self.cell.initial(hidden),
            memory=encoded.states,
            keys=self.attention.prepare_keys(encoded.states),
            memory_mask=encoded.mask,
        )

    def _attend(self, query: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        """Context ``(B, H)`` and weights ``(B, S)`` for one query vector ``(B, H)``."""
        out = self.attention.attend(query.unsqueeze(1), state.keys, state.memory, state.memory_mask)
        return out.context.squeeze(1), out.weights.squeeze(1)

    def step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        """Consume the previous target tokens ``(B,)`` and predict the next ones."""
        raise NotImplementedError

    def forward(self, tgt_in: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        """Teacher forcing: run :meth:`step` over ``tgt_in (B, T)``.

        Returns logits ``(B, T, V)`` and attention weights ``(B, T, S)``.
        """
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            out = self.step(tgt_in[:, t], state)
            state = out.state
            logits.append(out.logits)
            weights.append(out.attention)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


class BahdanauDecoder(AttentionalDecoder):
    """Attend with ``s_{t-1}``; ``s_t = RNN([y; c_t], s_{t-1})``; deep output over ``[s_t; c_t; y]``."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, **kwargs) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_size, **kwargs)
        self.output = nn.Linear(2 * hidden_size + embedding_dim, hidden_size)

    def step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        embedded = self.dropout(self.embedding(tokens))  # (B, E)
        context, weights = self._attend(state.rnn[:, 0], state)  # (B, H), (B, S)
        rnn = self.cell(torch.cat([embedded, context], dim=-1), state.rnn)  # (B, K, H)
        hidden = torch.tanh(self.output(torch.cat([rnn[:, 0], context, embedded], dim=-1)))  # (B, H)
        logits = self.generator(self.dropout(hidden))  # (B, V)
        return StepOutput(logits=logits, state=replace(state, rnn=rnn), attention=weights)


class LuongDecoder(AttentionalDecoder):
    """``s_t = RNN([y; h̃_{t-1}], s_{t-1})``; attend with ``s_t``; ``h̃_t = tanh(W_c [c_t; s_t])``."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, **kwargs) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_size, **kwargs)
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)  # W_c

    def init_state(self, encoded: EncoderOutput) -> DecoderState:
        state = super().init_state(encoded)
        return replace(state, feed=torch.zeros_like(state.rnn[:, 0]))

    def step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        embedded = self.dropout(self.embedding(tokens))  # (B, E)
        rnn = self.cell(torch.cat([embedded, state.feed], dim=-1), state.rnn)  # (B, K, H)
        context, weights = self._attend(rnn[:, 0], state)  # (B, H), (B, S)
        feed = torch.tanh(self.combine(torch.cat([context, rnn[:, 0]], dim=-1)))  # (B, H)
        logits = self.generator(self.dropout(feed))  # (B, V)
        return StepOutput(logits=logits, state=replace(state, rnn=rnn, feed=feed), attention=weights)


DECODERS: dict[str, type[AttentionalDecoder]] = {"bahdanau": BahdanauDecoder, "luong": LuongDecoder}

"""Bidirectional RNN encoder, optionally followed by self-attention over its states."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnops.models.attention import build_attention

RNN_TYPES: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM}


@dataclass
class EncoderOutput:
    """Encoded source.

    Attributes:
        states: per-token states, ``(B, S, H)``; zero at padding.
        mask: ``(B, S)`` bool, True for real tokens.
        summary: whole-sentence vector used to start the decoder, ``(B, H)``.
        self_attention: the self-attention weights ``(B, S, S)``, or None without that layer.
    """

    states: Tensor
    mask: Tensor
    summary: Tensor
    self_attention: Tensor | None = None


def run_packed(rnn: nn.RNNBase, inputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Run a bidirectional ``rnn`` over right-padded ``inputs (B, T, D)`` so padding never enters it.

    Args:
        mask: ``(B, T)`` bool, True for real steps; every row has at least one.

    Returns:
        states ``(B, T, H)`` (zero at padding) and the final states of the last layer's two
        directions concatenated, ``(B, H)``.
    """
    lengths = mask.sum(dim=1)  # (B,)
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    packed_out, final = rnn(packed)
    states, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=inputs.shape[1])  # (B, T, H)
    hidden = final[0] if isinstance(final, tuple) else final  # (2L, B, H/2); LSTM gives (h, c)
    return states, torch.cat([hidden[-2], hidden[-1]], dim=-1)  # (B, H): last layer, both directions


class SelfAttentionLayer(nn.Module):
    """Self-attention over RNN states with a residual connection and layer norm."""

    def __init__(self, hidden_size: int, attention: str, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = build_attention(attention, hidden_size, hidden_size, hidden_size, num_heads)
        self.norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Return the attended states ``(B, S, H)`` and the weights ``(B, S, S)``."""
        out = self.attention(states, states, states, mask)
        attended = self.norm(states + self.dropout(out.context))  # (B, S, H)
        return attended * mask.unsqueeze(-1), out.weights


class RNNEncoder(nn.Module):
    """Embedding → bidirectional GRU/LSTM over packed sequences → optional self-attention.

    Each direction has ``hidden_size // 2`` units, so the concatenated states have ``hidden_size``
    features and every scorer (dot included) can compare them with a decoder state of that size.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        rnn_type: str,
        dropout: float,
        pad_id: int,
        self_attention: str | None = None,
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = RNN_TYPES[rnn_type](
            embedding_dim,
            hidden_size // 2,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.self_attention = (
            SelfAttentionLayer(hidden_size, self_attention, num_heads, dropout) if self_attention else None
        )

    def forward(self, src: Tensor, mask: Tensor) -> EncoderOutput:
        """Encode a padded batch.

        Args:
            src: ``(B, S)`` token ids, right-padded.
            mask: ``(B, S)`` bool, True for real tokens; every row has at least one.
        """
        embedded = self.dropout(self.embedding(src))  # (B, S, E)
        states, summary = run_packed(self.rnn, embedded, mask)  # (B, S, H), (B, H)
        states = self.dropout(states)
        weights = None
        if self.self_attention is not None:
            states, weights = self.self_attention(states, mask)
        return EncoderOutput(states=states, mask=mask, summary=summary, self_attention=weights)

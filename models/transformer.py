"""Pre-norm Transformer encoder-decoder (Vaswani et al. 2017) behind the ``encode``/``decode_step`` protocol.

Decoding is incremental. The :class:`DecoderState` carries, per decoder layer, the cross-attention keys
(``keys``) and values (``memory``) of the source, computed once by ``encode``, and the self-attention keys
and values of the target steps so far (``past_keys``/``past_values``), which each step extends by one.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnops.models.config import TransformerConfig, TransformerLayersConfig
from attnops.models.decoder import DecoderState, StepOutput
from attnops.models.seq2seq import SpecialTokens


def sinusoid(positions: Tensor, dim: int) -> Tensor:
    """Sinusoidal encodings ``(..., dim)`` of positions ``(...)``: sin and cos pairs at geometric frequencies."""
    exponents = torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim  # (dim/2,)
    angles = positions.unsqueeze(-1).float() * torch.exp(-math.log(10000.0) * exponents)  # (..., dim/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (..., dim)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention with separate query and key/value projections, so keys and
    values can be projected once and cached."""

    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        self.query = nn.Linear(d_model, d_model)
        self.key_value = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values ``(B, T, D)`` of ``x (B, T, D)``."""
        keys, values = self.key_value(x).chunk(2, dim=-1)
        return keys, values

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)  # (B, H, T, D/H)

    def forward(
        self, x: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None, causal: bool = False, weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``x (B, Tq, D)`` over ``keys``/``values (B, Tk, D)``.

        Args:
            mask: ``(B, 1, 1, Tk)`` bool, True where a key may be attended; None for all.
            causal: query ``i`` sees keys ``<= i`` only (``Tq == Tk``).
            weights: also return the attention weights ``(B, Tq, Tk)``, averaged over heads.
        """
        q, k, v = self._heads(self.query(x)), self._heads(keys), self._heads(values)  # (B, H, T, D/H)
        p = self.dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        averaged = None
        if weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
            averaged = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1).mean(dim=1)  # (B, Tq, Tk)
        return self.out(context.transpose(1, 2).flatten(-2)), averaged  # (B, Tq, D)


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ff_size: int, dropout: float) -> None:
        super().__init__(nn.Linear(d_model, ff_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_size, d_model))


class EncoderLayer(nn.Module):
    """``x + SelfAttn(LN(x))``, then ``x + FF(LN(x))``."""

    def __init__(self, config: TransformerLayersConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attention = MultiHeadAttention(d, config.num_heads, config.dropout)
        self.ff = FeedForward(d, config.ff_size, config.dropout)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.dropout(self.attention(h, *self.attention.project(h), mask)[0])  # (B, S, D)
        return x + self.dropout(self.ff(self.norm2(x)))


class DecoderLayer(nn.Module):
    """``x + SelfAttn(LN(x))`` over the target so far, ``x + CrossAttn(LN(x))`` over the source, ``x + FF(LN(x))``."""

    def __init__(self, config: TransformerLayersConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attention = MultiHeadAttention(d, config.num_heads, config.dropout)
        self.cross_attention = MultiHeadAttention(d, config.num_heads, config.dropout)
        self.ff = FeedForward(d, config.ff_size, config.dropout)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: Tensor,
        past: tuple[Tensor, Tensor],
        cross: tuple[Tensor, Tensor],
        memory_mask: Tensor,
        causal: bool,
        weights: bool,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """Run new target positions ``x (B, T, D)`` after ``past`` keys/values ``(B, P, D)``.

        Args:
            cross: the source's keys and values ``(B, S, D)`` for this layer.
            memory_mask: ``(B, 1, 1, S)`` bool.
            causal: the new positions attend causally among themselves (teacher forcing, ``P == 0``); a
                single step attends to all of ``past`` and itself.
            weights: also return the cross-attention weights ``(B, T, S)``.

        Returns the new positions ``(B, T, D)``, all self-attention keys and values ``(B, P+T, D)``, weights.
        """
        h = self.norm1(x)
        keys, values = self.self_attention.project(h)  # (B, T, D)
        keys, values = torch.cat([past[0], keys], dim=1), torch.cat([past[1], values], dim=1)  # (B, P+T, D)
        x = x + self.dropout(self.self_attention(h, keys, values, None, causal=causal)[0])
        attended, cross_weights = self.cross_attention(self.norm2(x), *cross, memory_mask, weights=weights)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ff(self.norm3(x))), keys, values, cross_weights


class SourceToWords(nn.Module):
    """An ``encoder`` of some source ``(B, S, …)`` and a :class:`TransformerDecoder` over its states: ``encode``
    and ``decode_step`` are what search drives and what is exported, ``forward`` is teacher forcing."""

    encoder: nn.Module
    decoder: TransformerDecoder

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        """Encode ``src`` with ``src_mask (B, S)`` into the decoder's first state (an empty cache)."""
        return self.decoder.init_state(self.encoder(src, src_mask), src_mask)

    def decode_step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        """One step: tokens ``(B,)`` → logits ``(B, V)``, the state with a longer cache, weights ``(B, S)``."""
        return self.decoder.step(tokens, state)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits ``(B, T, V)`` and cross-attention ``(B, T, S)`` for ``tgt_in (B, T)``, causal."""
        return self.decoder(tgt_in, self.encode(src, src_mask))


class Transformer(SourceToWords):
    """Transformer encoder-decoder over a sentence's tokens ``(B, S)``."""

    def __init__(
        self, config: TransformerConfig, src_vocab_size: int, tgt_vocab_size: int, special: SpecialTokens
    ) -> None:
        super().__init__()
        if config.share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"share_embeddings=True needs one vocabulary, got {src_vocab_size} source and {tgt_vocab_size} "
                "target tokens (use a joint tokenizer)"
            )
        self.config, self.special = config, special
        self.encoder = TransformerEncoder(config, src_vocab_size, special.pad)
        shared = self.encoder.embedding if config.share_embeddings else None
        self.decoder = TransformerDecoder(config, tgt_vocab_size, special.pad, shared)


class TokenEmbedding(nn.Module):
    """Embeddings scaled by ``sqrt(D)`` plus sinusoidal positions."""

    def __init__(self, vocab_size: int, d_model: int, pad_id: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        nn.init.zeros_(self.embedding.weight[pad_id])
        self.dropout = nn.Dropout(dropout)

    @property
    def num_embeddings(self) -> int:
        return self.embedding.num_embeddings

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """``tokens (B, T)`` at ``positions (B|1, T)`` → ``(B, T, D)``."""
        d = self.embedding.embedding_dim
        return self.dropout(self.embedding(tokens) * math.sqrt(d) + sinusoid(positions, d))


class TransformerEncoder(nn.Module):
    def __init__(self, config: TransformerConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.embedding = TokenEmbedding(vocab_size, config.d_model, pad_id, config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, src: Tensor, src_mask: Tensor) -> Tensor:
        """Source states ``(B, S, D)`` of ``src (B, S)``; padded positions never reach real ones."""
        x = self.embedding(src, torch.arange(src.shape[1], device=src.device).unsqueeze(0))  # (B, S, D)
        mask = src_mask[:, None, None, :]  # (B, 1, 1, S)
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class TransformerDecoder(nn.Module):
    """The decoder stack over any source states (a sentence's, an image's regions), with its key/value cache."""

    def __init__(
        self, config: TransformerLayersConfig, vocab_size: int, pad_id: int, shared: TokenEmbedding | None = None
    ) -> None:
        super().__init__()
        self.embedding = shared or TokenEmbedding(vocab_size, config.d_model, pad_id, config.dropout)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.generator = nn.Linear(config.d_model, vocab_size)
        if config.tie_output:
            self.generator.weight = self.embedding.embedding.weight
        self.attention_layer = config.attention_layer % config.decoder_layers

    def init_state(self, memory: Tensor, src_mask: Tensor) -> DecoderState:
        """Each layer's cross-attention keys and values ``(B, S, L, D)`` and an empty cache ``(B, 0, L, D)``."""
        keys, values = zip(*(layer.cross_attention.project(memory) for layer in self.layers))
        keys = torch.stack(keys, dim=2)  # (B, S, L, D)
        empty = keys[:, :0]  # (B, 0, L, D): no target step yet
        values = torch.stack(values, dim=2)  # (B, S, L, D)
        return DecoderState(memory=values, keys=keys, memory_mask=src_mask, past_keys=empty, past_values=empty)

    def _run(
        self, tokens: Tensor, positions: Tensor, state: DecoderState, causal: bool
    ) -> tuple[Tensor, Tensor, DecoderState]:
        """Logits ``(B, T, V)``, cross-attention ``(B, T, S)`` and the extended state for ``tokens (B, T)``."""
        x = self.embedding(tokens, positions)  # (B, T, D)
        mask = state.memory_mask[:, None, None, :]  # (B, 1, 1, S)
        past_keys, past_values, weights = [], [], None
        for i, layer in enumerate(self.layers):
            past = (state.past_keys[:, :, i], state.past_values[:, :, i])  # (B, P, D) each
            cross = (state.keys[:, :, i], state.memory[:, :, i])  # (B, S, D) each
            x, keys, values, layer_weights = layer(x, past, cross, mask, causal, weights=i == self.attention_layer)
            past_keys.append(keys)
            past_values.append(values)
            weights = layer_weights if layer_weights is not None else weights
        logits = self.generator(self.norm(x))  # (B, T, V)
        cache = {"past_keys": torch.stack(past_keys, dim=2), "past_values": torch.stack(past_values, dim=2)}
        return logits, weights, replace(state, **cache)  # cache (B, P+T, L, D)

    def step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        """Consume the previous target tokens ``(B,)`` at position P (the cache's length)."""
        positions = torch.ones_like(state.past_keys[:, :, 0, 0]).sum(dim=1, keepdim=True)  # (B, 1): P
        logits, weights, state = self._run(tokens.unsqueeze(1), positions, state, causal=False)
        return StepOutput(logits=logits[:, 0], state=state, attention=weights[:, 0])

    def forward(self, tgt_in: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        """Teacher forcing over ``tgt_in (B, T)`` at once (causal): logits ``(B, T, V)``, weights ``(B, T, S)``."""
        positions = torch.arange(tgt_in.shape[1], device=tgt_in.device).unsqueeze(0)  # (1, T)
        logits, weights, _ = self._run(tgt_in, positions, state, causal=True)
        return logits, weights

"""Show, Attend and Tell (Xu et al. 2015): an LSTM with soft attention over an image's region grid.

For search and export an image's "source" is its grid of region vectors ``(B, S, C)`` with an all-ones
mask ``(B, S)``; :class:`Captioner` exposes the same ``encode`` / ``decode_step`` boundaries as
:class:`~attnops.models.seq2seq.Seq2Seq`, so the shared greedy and beam search drive it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from attnops.models.attention import ATTENTION_NAMES, build_attention
from attnops.models.decoder import DecoderState, RecurrentCell, StepOutput
from attnops.models.seq2seq import SpecialTokens


@dataclass
class CaptionerConfig:
    """Shape of the soft-attention caption decoder and of the image encoder it reads."""

    __pydantic_config__ = {"extra": "forbid"}

    architecture: str = "soft_attention"
    """Model family: soft_attention (this config) or transformer (:class:`CaptionTransformerConfig`)."""
    attention: str = "additive"
    """Attention variant over the region grid (attnops.models.attention.ATTENTION_NAMES)."""
    embedding_dim: int = 512
    """Word embedding size (also the size of the deep output layer)."""
    hidden_size: int = 512
    """LSTM state size; region vectors are projected to it so that every scorer applies."""
    num_heads: int = 4
    """Heads of multihead attention."""
    dropout: float = 0.5
    """Dropout on the region vectors and before the output layer."""
    tap_block: int | None = None
    """EfficientNet-Lite0 block whose output is the grid (None: head conv, 5×5×1280 at 160 px; 10: 10×10×112)."""
    trainable_blocks: int = 0
    """Top encoder blocks to fine-tune (0: frozen encoder, grid features can be cached)."""
    doubly_stochastic: float = 1.0
    """λ of the doubly stochastic attention penalty λ·mean_i (1 − Σ_t α_ti)² (this architecture only)."""

    def __post_init__(self) -> None:
        if self.architecture != "soft_attention":
            raise ValueError(f"architecture={self.architecture!r} is not allowed here; this config is soft_attention")
        if self.attention not in ATTENTION_NAMES:
            raise ValueError(
                f"attention={self.attention!r} is not allowed; choose one of: {', '.join(ATTENTION_NAMES)}"
            )
        for key in ("embedding_dim", "hidden_size", "num_heads"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}={getattr(self, key)!r} must be >= 1")
        if not 0.0 <= self.dropout <= 0.9:
            raise ValueError(f"dropout={self.dropout!r} must be in [0.0, 0.9]")
        if self.trainable_blocks < 0:
            raise ValueError(f"trainable_blocks={self.trainable_blocks!r} must be >= 0")
        if self.doubly_stochastic < 0:
            raise ValueError(f"doubly_stochastic={self.doubly_stochastic!r} must be >= 0")

    def tags(self) -> dict[str, str]:
        """What tells registered versions apart."""
        return {"attention": self.attention}


class SoftAttentionDecoder(nn.Module):
    """One SAT step: attend with ``h_{t-1}``, gate the context with a scalar ``β_t``, update the LSTM.

    ``α_t = softmax(score(h_{t-1}, a))``, ``ẑ_t = β_t Σ_i α_ti a_i`` with ``β_t = σ(f_β(h_{t-1}))``,
    ``(h_t, c_t) = LSTM([E y_{t-1}; ẑ_t], (h_{t-1}, c_{t-1}))`` and the deep output
    ``p(y_t) ∝ exp(L_o(E y_{t-1} + L_h h_t + L_z ẑ_t))``. The LSTM starts from MLPs of the mean region.
    """

    def __init__(self, config: CaptionerConfig, feature_dim: int, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        hidden, embed = config.hidden_size, config.embedding_dim
        self.project = nn.Linear(feature_dim, hidden)  # region vectors a_i
        self.init_h = nn.Linear(hidden, hidden)
        self.init_c = nn.Linear(hidden, hidden)
        self.attention = build_attention(config.attention, hidden, hidden, hidden, config.num_heads)
        self.gate = nn.Linear(hidden, 1)  # f_β
        self.embedding = nn.Embedding(vocab_size, embed, padding_idx=pad_id)
        self.cell = RecurrentCell("lstm", embed + hidden, hidden)
        self.out_hidden = nn.Linear(hidden, embed)  # L_h
        self.out_context = nn.Linear(hidden, embed, bias=False)  # L_z
        self.generator = nn.Linear(embed, vocab_size)  # L_o
        self.dropout = nn.Dropout(config.dropout)

    def init_state(self, features: Tensor, mask: Tensor) -> DecoderState:
        """The state before the first word, from region features ``(B, S, C)`` and mask ``(B, S)``."""
        memory = self.dropout(self.project(features))  # (B, S, H)
        weights = mask.to(memory.dtype).unsqueeze(-1)  # (B, S, 1)
        mean = (memory * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, H)
        rnn = torch.stack([torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))], dim=1)  # (B, 2, H)
        return DecoderState(rnn=rnn, memory=memory, keys=self.attention.prepare_keys(memory), memory_mask=mask)

    def step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        """Consume the previous words ``(B,)``; logits ``(B, V)``, new state, weights ``(B, S)``."""
        embedded = self.embedding(tokens)  # (B, E)
        hidden = state.rnn[:, 0]  # (B, H)
        attended = self.attention.attend(hidden.unsqueeze(1), state.keys, state.memory, state.memory_mask)
        context = torch.sigmoid(self.gate(hidden)) * attended.context.squeeze(1)  # (B, H)
        rnn = self.cell(torch.cat([embedded, context], dim=-1), state.rnn)  # (B, 2, H)
        output = embedded + self.out_hidden(rnn[:, 0]) + self.out_context(context)  # (B, E)
        logits = self.generator(self.dropout(output))  # (B, V)
        return StepOutput(logits=logits, state=replace(state, rnn=rnn), attention=attended.weights.squeeze(1))


class Captioner(nn.Module):
    """The caption model behind the search protocol: region grid in, one word per step out."""

    def __init__(self, config: CaptionerConfig, feature_dim: int, vocab_size: int, special: SpecialTokens) -> None:
        super().__init__()
        self.config = config
        self.special = special
        self.feature_dim = feature_dim
        self.decoder = SoftAttentionDecoder(config, feature_dim, vocab_size, special.pad)

    @property
    def vocab_size(self) -> int:
        return self.decoder.generator.out_features

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        """Region features ``src (B, S, C)`` with ``src_mask (B, S)`` (all True) → the first state."""
        return self.decoder.init_state(src, src_mask)

    def decode_step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        """One word: previous words ``(B,)`` → logits ``(B, V)``, new state, weights ``(B, S)``."""
        return self.decoder.step(tokens, state)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing over ``tgt_in (B, T)``: logits ``(B, T, V)`` and attention ``(B, T, S)``."""
        state = self.encode(src, src_mask)
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            out = self.decode_step(tgt_in[:, t], state)
            state = out.state
            logits.append(out.logits)
            weights.append(out.attention)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


def grid_mask(features: Tensor) -> Tensor:
    """The all-True mask ``(B, S)`` of a region grid ``(B, S, C)``."""
    return torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)

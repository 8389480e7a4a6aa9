"""The attentional RNN encoder-decoder and its two exportable boundaries."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from attnops.models.config import Seq2SeqConfig
from attnops.models.decoder import DECODERS, AttentionalDecoder, DecoderState, StepOutput
from attnops.models.encoder import RNNEncoder


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens shared by tokenizer, model and search."""

    pad: int = 0
    bos: int = 1
    eos: int = 2
    unk: int = 3


class Seq2Seq(nn.Module):
    """Bidirectional RNN encoder + attentional RNN decoder.

    ``encode`` and ``decode_step`` are the two boundaries that search drives and that are exported.
    """

    decoders: dict[str, type[AttentionalDecoder]] = DECODERS
    """Decoder classes by ``config.decoder`` (a subclass may register other styles)."""

    def __init__(self, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int, special: SpecialTokens) -> None:
        super().__init__()
        self.config = config
        self.special = special
        self.encoder = RNNEncoder(
            src_vocab_size,
            config.embedding_dim,
            config.hidden_size,
            config.encoder_layers,
            config.rnn_type,
            config.dropout,
            special.pad,
            self_attention=config.self_attention,
            num_heads=config.num_heads,
        )
        self.decoder = self.decoders[config.decoder](
            tgt_vocab_size,
            config.embedding_dim,
            config.hidden_size,
            rnn_type=config.rnn_type,
            attention=config.attention,
            num_heads=config.num_heads,
            dropout=config.dropout,
            pad_id=special.pad,
        )

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        """Encode ``src (B, S)`` with ``src_mask (B, S)`` into the decoder's first state."""
        return self.decoder.init_state(self.encoder(src, src_mask))

    def decode_step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        """One target step: previous tokens ``(B,)`` → logits ``(B, V)``, new state, weights ``(B, S)``."""
        return self.decoder.step(tokens, state)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits ``(B, T, V)`` and attention ``(B, T, S)`` for ``tgt_in (B, T)``."""
        return self.decoder(tgt_in, self.encode(src, src_mask))

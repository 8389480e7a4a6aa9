"""Typed model and optimisation settings.

Plain dataclasses that validate themselves, so ``models/`` needs nothing but torch. The experiment
config in ``pipelines/`` embeds them; ``__pydantic_config__`` (a plain dict, no import) makes
pydantic reject unknown keys there.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnops.models.attention import ATTENTION_NAMES
from attnops.models.decoder import DECODERS
from attnops.models.encoder import RNN_TYPES

SCHEDULERS = ("constant", "plateau", "cosine")


def _check_choice(key: str, value: object, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{key}={value!r} is not allowed; choose one of: {', '.join(allowed)}")


def _check_range(key: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{key}={value!r} must be {bounds}")


@dataclass
class Seq2SeqConfig:
    """Shape of an attentional RNN encoder-decoder."""

    __pydantic_config__ = {"extra": "forbid"}

    architecture: str = "rnn"
    """Model family: rnn (this config) or transformer (:class:`TransformerConfig`)."""
    attention: str = "additive"
    """Decoder attention variant (attnops.models.attention.ATTENTION_NAMES)."""
    decoder: str = "bahdanau"
    """Decoder style: bahdanau (attend, then update) or luong (update, attend, input feeding)."""
    rnn_type: str = "gru"
    """Recurrent unit of encoder and decoder: gru or lstm."""
    embedding_dim: int = 256
    """Token embedding size (source and target)."""
    hidden_size: int = 512
    """Decoder state size; each encoder direction has half of it."""
    encoder_layers: int = 1
    """Stacked bidirectional encoder layers."""
    self_attention: str | None = None
    """Attention variant of a self-attention layer over the encoder states, or None for no layer."""
    num_heads: int = 4
    """Heads of any multihead attention."""
    dropout: float = 0.3
    """Dropout on embeddings, encoder states and the output layer."""

    def __post_init__(self) -> None:
        _check_choice("architecture", self.architecture, ("rnn",))
        _check_choice("attention", self.attention, ATTENTION_NAMES)
        _check_choice("decoder", self.decoder, list(DECODERS))
        _check_choice("rnn_type", self.rnn_type, list(RNN_TYPES))
        if self.self_attention is not None:
            _check_choice("self_attention", self.self_attention, ATTENTION_NAMES)
        for key in ("embedding_dim", "hidden_size", "encoder_layers", "num_heads"):
            _check_range(key, getattr(self, key), 1)
        if self.hidden_size % 2:
            raise ValueError(f"hidden_size={self.hidden_size} must be even (it is split across directions)")
        _check_range("dropout", self.dropout, 0.0, 0.9)

    def tags(self) -> dict[str, str]:
        """What tells registered versions apart."""
        return {"attention": self.attention, "decoder": self.decoder}


@dataclass
class TransformerLayersConfig:
    """Sizes of pre-norm Transformer layers and of the decoder stack, shared by every Transformer model."""

    __pydantic_config__ = {"extra": "forbid"}

    d_model: int = 256
    """Width of embeddings and every layer's states."""
    num_heads: int = 4
    """Attention heads; must divide d_model."""
    decoder_layers: int = 3
    ff_size: int = 1024
    """Inner width of each position-wise feed-forward block."""
    dropout: float = 0.1
    """Dropout on embeddings, sub-layer outputs, attention weights and the feed-forward block."""
    tie_output: bool = True
    """The output layer reuses the target embedding table."""
    attention_layer: int = -1
    """Decoder layer whose cross-attention (heads averaged) is reported per step; negative counts from the end."""

    def __post_init__(self) -> None:
        for key in ("d_model", "num_heads", "decoder_layers", "ff_size"):
            _check_range(key, getattr(self, key), 1)
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if not -self.decoder_layers <= self.attention_layer < self.decoder_layers:
            raise ValueError(
                f"attention_layer={self.attention_layer} must be in [{-self.decoder_layers}, {self.decoder_layers - 1}]"
            )
        _check_range("dropout", self.dropout, 0.0, 0.9)

    def tags(self) -> dict[str, str]:
        """What tells registered versions apart."""
        return {"attention": "scaled_dot_product", "decoder": "transformer"}


@dataclass
class TransformerConfig(TransformerLayersConfig):
    """Shape of a pre-norm Transformer encoder-decoder."""

    architecture: str = "transformer"
    """Model family: transformer (this config) or rnn (:class:`Seq2SeqConfig`)."""
    encoder_layers: int = 3
    share_embeddings: bool = False
    """One embedding table for source and target (needs a joint tokenizer)."""

    def __post_init__(self) -> None:
        _check_choice("architecture", self.architecture, ("transformer",))
        _check_range("encoder_layers", self.encoder_layers, 1)
        super().__post_init__()


@dataclass
class HierarchicalConfig:
    """Shape of a hierarchical attention network (word level, then sentence level)."""

    __pydantic_config__ = {"extra": "forbid"}

    attention: str = "additive"
    """Attention variant of both pooling layers (attnops.models.attention.ATTENTION_NAMES); additive as in HAN."""
    rnn_type: str = "gru"
    """Recurrent unit of the word and sentence encoders: gru or lstm."""
    embedding_dim: int = 200
    """Word embedding size."""
    word_hidden_size: int = 100
    """Word encoder state size; each direction has half of it."""
    sentence_hidden_size: int = 100
    """Sentence encoder state size; each direction has half of it."""
    num_heads: int = 4
    """Heads of multihead attention."""
    max_positions: int = 64
    """Sentence positions the extractive scorer has an embedding for (later ones share the last)."""
    dropout: float = 0.3
    """Dropout on embeddings, states and the output layer."""
    lexical_term: bool = False
    """Classification only: add a linear model over the document's tf-idf bag of words to the class logits."""
    part_losses: bool = False
    """With ``lexical_term``: also train the network's and the linear model's logits each on its own
    cross-entropy, so that the side which fits the training set first does not starve the other."""

    def __post_init__(self) -> None:
        _check_choice("attention", self.attention, ATTENTION_NAMES)
        _check_choice("rnn_type", self.rnn_type, list(RNN_TYPES))
        for key in ("embedding_dim", "word_hidden_size", "sentence_hidden_size", "num_heads", "max_positions"):
            _check_range(key, getattr(self, key), 1)
        for key in ("word_hidden_size", "sentence_hidden_size"):
            if getattr(self, key) % 2:
                raise ValueError(f"{key}={getattr(self, key)} must be even (it is split across directions)")
        _check_range("dropout", self.dropout, 0.0, 0.9)
        if self.part_losses and not self.lexical_term:
            raise ValueError("part_losses=True needs lexical_term=True (it trains the two parts of the logits)")

    def tags(self) -> dict[str, str]:
        """What tells registered versions apart."""
        head = " + tf-idf, a loss per part" if self.part_losses else " + tf-idf" if self.lexical_term else ""
        return {"attention": self.attention + head}


@dataclass
class OptimConfig:
    """Optimiser, learning-rate schedule and loss settings."""

    __pydantic_config__ = {"extra": "forbid"}

    lr: float = 1e-3
    """Peak Adam learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    scheduler: str = "plateau"
    """constant, plateau (halve when val_loss stalls) or cosine (decay to 0 over training)."""
    warmup_steps: int = 0
    """Linear warm-up steps before the schedule (cosine only)."""
    label_smoothing: float = 0.1
    """Label smoothing of the cross-entropy."""

    def __post_init__(self) -> None:
        _check_range("lr", self.lr, 1e-8, 10.0)
        _check_range("weight_decay", self.weight_decay, 0.0)
        _check_choice("scheduler", self.scheduler, SCHEDULERS)
        _check_range("warmup_steps", self.warmup_steps, 0)
        _check_range("label_smoothing", self.label_smoothing, 0.0, 0.5)

"""Names and dynamic axes of the exported graphs, declared once for the exporter, the runtime and the parity checks.

:func:`graph_specs` declares the decoder pair (encoder, one decoder step) of every model that decodes
with search; a task with other graphs declares a :class:`GraphSpec` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnops.models.decoder import RECURRENT_FIELDS

BATCH, SOURCE, EXTENDED, PAST = "batch", "source_length", "extended_vocab", "past_length"
NEXT = "next_"
"""Prefix of a decoder-step output that replaces the state field of the same name."""
PRECISION_SUFFIX = {"fp32": "", "int8": ".int8"}


@dataclass(frozen=True)
class GraphSpec:
    """One exported graph: file stem, ordered input and output names, and their dynamic axes."""

    stem: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]

    def file(self, precision: str = "fp32") -> str:
        return f"{self.stem}{PRECISION_SUFFIX[precision]}.onnx"


@dataclass(frozen=True)
class GraphSpecs:
    encoder: GraphSpec
    decoder: GraphSpec
    state_fields: tuple[str, ...]
    """The :class:`DecoderState` fields the model uses, in graph order."""

    @property
    def recurrent_fields(self) -> tuple[str, ...]:
        return tuple(name for name in self.state_fields if name in RECURRENT_FIELDS)


_STATE_AXES: dict[str, dict[int, str]] = {
    "rnn": {0: BATCH},
    "memory": {0: BATCH, 1: SOURCE},
    "keys": {0: BATCH, 1: SOURCE},
    "memory_mask": {0: BATCH, 1: SOURCE},
    "feed": {0: BATCH},
    "coverage": {0: BATCH, 1: SOURCE},
    "source_ids": {0: BATCH, 1: SOURCE},
    "past_keys": {0: BATCH, 1: PAST},
    "past_values": {0: BATCH, 1: PAST},
}
COPY = "copy"
"""Decoder-step output of a pointer model (one whose state has ``source_ids``): the copy probability ``(B,)``."""


def _next_axes(axes: dict[int, str]) -> dict[int, str]:
    """A step's output axes: the past it returns is one step longer than the one it took."""
    return {axis: NEXT + name if name == PAST else name for axis, name in axes.items()}


def graph_specs(state_fields: tuple[str, ...]) -> GraphSpecs:
    """The graph declaration for a model whose decoder state has ``state_fields``.

    A pointer model's logits cover the extended vocabulary (``V + S``) and its step also returns ``copy``.
    """
    pointer = "source_ids" in state_fields
    recurrent = tuple(name for name in state_fields if name in RECURRENT_FIELDS)
    state_axes = {name: _STATE_AXES[name] for name in state_fields}
    encoder = GraphSpec(
        stem="encoder",
        inputs=("src", "src_mask"),
        outputs=state_fields,
        dynamic_axes={"src": {0: BATCH, 1: SOURCE}, "src_mask": {0: BATCH, 1: SOURCE}, **state_axes},
    )
    decoder = GraphSpec(
        stem="decoder_step",
        inputs=("tokens", *state_fields),
        outputs=("logits", "attention", *((COPY,) if pointer else ()), *(NEXT + name for name in recurrent)),
        dynamic_axes={
            "tokens": {0: BATCH},
            **state_axes,
            "logits": {0: BATCH, 1: EXTENDED} if pointer else {0: BATCH},
            "attention": {0: BATCH, 1: SOURCE},
            **({COPY: {0: BATCH}} if pointer else {}),
            **{NEXT + name: _next_axes(_STATE_AXES[name]) for name in recurrent},
        },
    )
    return GraphSpecs(encoder, decoder, state_fields)

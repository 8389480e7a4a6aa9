"""The two ONNX graphs of a seq2seq model (encoder, one decoder step): names, axes, export, INT8.

:func:`graph_specs` is the single declaration of every input/output name and dynamic axis; the
exporter, the ONNX Runtime backend and the parity check all read it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor, nn

from models.decoder import RECURRENT_FIELDS, DecoderState
from models.seq2seq import Seq2Seq

BATCH, SOURCE = "batch", "source_length"
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
}


def graph_specs(state_fields: tuple[str, ...]) -> GraphSpecs:
    """The graph declaration for a model whose decoder state has ``state_fields``."""
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
        outputs=("logits", "attention", *(NEXT + name for name in recurrent)),
        dynamic_axes={
            "tokens": {0: BATCH},
            **state_axes,
            "logits": {0: BATCH},
            "attention": {0: BATCH, 1: SOURCE},
            **{NEXT + name: _STATE_AXES[name] for name in recurrent},
        },
    )
    return GraphSpecs(encoder, decoder, state_fields)


def model_state_fields(model: Seq2Seq) -> tuple[str, ...]:
    """The state fields ``model`` fills in (Luong decoders add ``feed``)."""
    src, mask = dummy_source(batch=1, length=2)
    with torch.no_grad():
        state = model.encode(src, mask)
    return tuple(f.name for f in fields(DecoderState) if getattr(state, f.name) is not None)


def dummy_source(batch: int, length: int, vocab_size: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random ids ``(batch, length)`` above the special tokens, rows of random length ≥ 1, right-padded."""
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, max(vocab_size, 5), (batch, length), generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length  # the longest row fills the padded length, as in real batches
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    return src.masked_fill(~mask, 0), mask


class _EncoderGraph(nn.Module):
    def __init__(self, model: Seq2Seq, specs: GraphSpecs) -> None:
        super().__init__()
        self.model, self.specs = model, specs

    def forward(self, src: Tensor, src_mask: Tensor) -> tuple[Tensor, ...]:
        state = self.model.encode(src, src_mask)
        return tuple(getattr(state, name) for name in self.specs.state_fields)


class _DecoderStepGraph(nn.Module):
    def __init__(self, model: Seq2Seq, specs: GraphSpecs) -> None:
        super().__init__()
        self.model, self.specs = model, specs

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        out = self.model.decode_step(tokens, DecoderState(**dict(zip(self.specs.state_fields, state))))
        return out.logits, out.attention, *(getattr(out.state, name) for name in self.specs.recurrent_fields)


def export_graphs(model: Seq2Seq, folder: Path, opset: int) -> GraphSpecs:
    """Write ``encoder.onnx`` and ``decoder_step.onnx`` (self-contained fp32 files) into ``folder``.

    The TorchScript-based exporter is used: the dynamo exporter cannot trace packed sequences.
    """
    model = model.eval()
    specs = graph_specs(model_state_fields(model))
    folder.mkdir(parents=True, exist_ok=True)
    src, src_mask = dummy_source(batch=2, length=7, vocab_size=model.encoder.embedding.num_embeddings)
    with torch.no_grad():
        state = model.encode(src, src_mask)
    tokens = torch.full((2,), model.special.bos, dtype=torch.long)
    exports = [
        (_EncoderGraph(model, specs).eval(), (src, src_mask), specs.encoder),
        (
            _DecoderStepGraph(model, specs).eval(),
            (tokens, *(getattr(state, n) for n in specs.state_fields)),
            specs.decoder,
        ),
    ]
    for module, args, spec in exports:
        export_graph(module, args, folder / spec.file(), spec, opset)
    return specs


def export_graph(module: nn.Module, args: tuple[Tensor, ...], path: Path, spec: GraphSpec, opset: int) -> Path:
    """Export ``module`` (in eval mode) with ``spec``'s names and dynamic axes, self-contained, fp32.

    The TorchScript-based exporter is used: the dynamo exporter cannot trace packed sequences. It
    restores the module's training flag afterwards, so pass it in eval mode.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on packed sequences and constant sizes; parity checks
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_axes=spec.dynamic_axes,
        )
    return path


def quantize_graphs(specs: GraphSpecs, folder: Path) -> None:
    """Write dynamically INT8-quantized copies (``*.int8.onnx``) of both graphs beside the fp32 ones."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs per-tensor notes and a pre-processing hint on the root logger
    try:
        for spec in (specs.encoder, specs.decoder):
            quantize_dynamic(folder / spec.file("fp32"), folder / spec.file("int8"), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)

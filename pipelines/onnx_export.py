"""Export to ONNX: the decoder pair of a seq2seq model, any module under a :class:`GraphSpec`, INT8 copies.

The declarations (names, axes) live in :mod:`attnops.pipelines.inference.graphs`, which the runtime reads too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import torch
from torch import Tensor, nn

from attnops.models.decoder import DecoderState
from attnops.models.translators import Translator
from attnops.pipelines.inference.graphs import GraphSpec, GraphSpecs, graph_specs


def dummy_source(batch: int, length: int, vocab_size: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random ids ``(batch, length)`` above the special tokens, rows of random length ≥ 1, right-padded."""
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, max(vocab_size, 5), (batch, length), generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length  # the longest row fills the padded length, as in real batches
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    return src.masked_fill(~mask, 0), mask


DUMMY_STEPS = 2
"""Decoder steps taken before the step graph is traced, so a state that grows per step (a key/value cache)
is traced at a length other than zero."""


class EncoderGraph(nn.Module):
    def __init__(self, model: Translator, specs: GraphSpecs) -> None:
        super().__init__()
        self.model, self.specs = model, specs

    def forward(self, src: Tensor, src_mask: Tensor) -> tuple[Tensor, ...]:
        state = self.model.encode(src, src_mask)
        return tuple(getattr(state, name) for name in self.specs.state_fields)


class DecoderStepGraph(nn.Module):
    def __init__(self, model: Translator, specs: GraphSpecs) -> None:
        super().__init__()
        self.model, self.specs = model, specs

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        out = self.model.decode_step(tokens, DecoderState(**dict(zip(self.specs.state_fields, state))))
        copy = () if out.copy is None else (out.copy,)
        return out.logits, out.attention, *copy, *(getattr(out.state, name) for name in self.specs.recurrent_fields)


def state_fields(model: Translator, src: Tensor, src_mask: Tensor) -> tuple[str, ...]:
    """The :class:`DecoderState` fields ``model`` fills in for a source (Luong decoders add ``feed``)."""
    with torch.no_grad():
        state = model.encode(src, src_mask)
    return tuple(f.name for f in fields(DecoderState) if getattr(state, f.name) is not None)


def export_decoder_pair(
    model: Translator, specs: GraphSpecs, src: Tensor, src_mask: Tensor, folder: Path, opset: int
) -> None:
    """Write ``encoder.onnx`` and ``decoder_step.onnx`` (fp32), traced on ``src`` ``(B, S[, C])`` and the
    state :data:`DUMMY_STEPS` steps after it.

    Works for any model with ``encode``, ``decode_step`` and ``special`` (a translator, a captioner).
    """
    tokens = torch.full((src.shape[0],), model.special.bos, dtype=torch.long)  # (B,)
    with torch.no_grad():
        state = model.encode(src, src_mask)
        for _ in range(DUMMY_STEPS):
            state = model.decode_step(tokens, state).state
    export_graph(
        EncoderGraph(model, specs).eval(), (src, src_mask), folder / specs.encoder.file(), specs.encoder, opset
    )
    step_args = (tokens, *(getattr(state, n) for n in specs.state_fields))
    export_graph(DecoderStepGraph(model, specs).eval(), step_args, folder / specs.decoder.file(), specs.decoder, opset)


def export_graphs(model: Translator, folder: Path, opset: int) -> GraphSpecs:
    """Write a seq2seq model's ``encoder.onnx`` and ``decoder_step.onnx`` (self-contained fp32) into ``folder``."""
    model = model.eval()
    specs = graph_specs(state_fields(model, *dummy_source(batch=1, length=2)))
    folder.mkdir(parents=True, exist_ok=True)
    src, src_mask = dummy_source(batch=2, length=7, vocab_size=model.encoder.embedding.num_embeddings)
    export_decoder_pair(model, specs, src, src_mask, folder, opset)
    return specs


def export_graph(module: nn.Module, args: tuple[Tensor, ...], path: Path, spec: GraphSpec, opset: int) -> Path:
    """Export ``module`` (in eval mode) with ``spec``'s names and dynamic axes, self-contained, fp32.

    The TorchScript-based exporter is used: the dynamo exporter cannot trace packed sequences. It
    restores the module's training flag afterwards, so pass it in eval mode.
    """
    with warnings.catch_warnings(), _without_packed_sequence_notes():
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


_PACKED_SEQUENCE_NOTE = re.compile(r"^\[W.*The shape inference of prim::(PackPadded|PadPacked) type is missing")


@contextmanager
def _without_packed_sequence_notes() -> Iterator[None]:
    """Drop the exporter's C++ notes that packed sequences lack shape inference (printed straight to the
    process's stderr, out of reach of Python's warning filters; the parity check covers what they warn of).
    Every other line written to stderr meanwhile is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not _PACKED_SEQUENCE_NOTE.search(line):
                    sys.stderr.write(line)


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

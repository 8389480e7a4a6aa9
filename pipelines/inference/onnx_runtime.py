"""ONNX Runtime sessions behind the :class:`~models.search.DecodingBackend` protocol.

Search stays in PyTorch: the backend turns tensors into arrays at the graph boundary and back, so the
same greedy and beam search drive the PyTorch model and the exported graphs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor

from models.decoder import DecoderState, StepOutput
from pipelines.config import RuntimeConfig
from pipelines.errors import UserError
from pipelines.inference.graphs import COPY, NEXT, GraphSpecs

_OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def execution_providers(device: str) -> list[str]:
    """Providers for ``device`` (auto/cpu/cuda); :class:`UserError` if CUDA is asked for but missing."""
    available = ort.get_available_providers()
    if device == "cuda" and CUDA not in available:
        raise UserError(f"runtime.device=cuda but onnxruntime has no CUDA provider (available: {available})")
    return [CUDA, CPU] if device != "cpu" and CUDA in available else [CPU]


def create_session(path: Path, runtime: RuntimeConfig) -> ort.InferenceSession:
    if not path.is_file():
        raise UserError(f"missing ONNX graph {path.name} (export with --quantize int8 for int8 graphs)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = runtime.intra_op_threads
    options.graph_optimization_level = _OPTIMIZATION[runtime.graph_optimization]
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if runtime.spin_wait else "0")
    return ort.InferenceSession(str(path), options, providers=execution_providers(runtime.device))


def _array(tensor: Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy())


class OnnxBackend:
    """Encoder and decoder-step sessions that take and return the PyTorch model's tensors."""

    def __init__(self, folder: Path, specs: GraphSpecs, runtime: RuntimeConfig) -> None:
        self.folder, self.specs, self.runtime = folder, specs, runtime
        self.encoder = create_session(folder / specs.encoder.file(runtime.precision), runtime)
        self.decoder = create_session(folder / specs.decoder.file(runtime.precision), runtime)

    @property
    def providers(self) -> list[str]:
        return self.decoder.get_providers()

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        outputs = self.encoder.run(None, {"src": _array(src), "src_mask": _array(src_mask)})
        return DecoderState(**{name: torch.from_numpy(a) for name, a in zip(self.specs.state_fields, outputs)})

    def decode_step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        feeds = {"tokens": _array(tokens), **{name: _array(getattr(state, name)) for name in self.specs.state_fields}}
        outputs = dict(zip(self.specs.decoder.outputs, self.decoder.run(None, feeds)))
        updated = {name: torch.from_numpy(outputs[NEXT + name]) for name in self.specs.recurrent_fields}
        copy = torch.from_numpy(outputs[COPY]) if COPY in outputs else None
        return StepOutput(
            torch.from_numpy(outputs["logits"]), replace(state, **updated), torch.from_numpy(outputs["attention"]), copy
        )

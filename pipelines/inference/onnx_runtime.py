"""ONNX Runtime sessions behind the :class:`~attnops.models.search.DecodingBackend` protocol.

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

from attnops.models.decoder import DecoderState, StepOutput
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.graphs import COPY, NEXT, GraphSpecs

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


def run_bound(session: ort.InferenceSession, feeds: dict[str, Tensor], device: str) -> list[Tensor]:
    """Run ``session`` on PyTorch tensors without copying them: inputs are bound where they live and
    outputs are allocated on ``device`` ("cpu" or "cuda") and handed back as tensors (DLPack both ways),
    so on a GPU the encoder memory and the decoder state never leave it between decoder steps."""
    binding = session.io_binding()
    inputs = {name: tensor.contiguous() for name, tensor in feeds.items()}  # kept alive until the run ends
    for name, tensor in inputs.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.from_dlpack(tensor))
    for output in session.get_outputs():
        binding.bind_output(output.name, device)
    session.run_with_iobinding(binding)
    return [torch.from_dlpack(value) for value in binding.get_outputs()]


class OnnxBackend:
    """Encoder and decoder-step sessions that take and return the PyTorch model's tensors, on the device
    of the sessions' provider (``device``: cuda under the CUDA provider, else cpu)."""

    def __init__(self, folder: Path, specs: GraphSpecs, runtime: RuntimeConfig) -> None:
        self.folder, self.specs, self.runtime = folder, specs, runtime
        self.encoder = create_session(folder / specs.encoder.file(runtime.precision), runtime)
        self.decoder = create_session(folder / specs.decoder.file(runtime.precision), runtime)
        self.device = torch.device("cuda" if self.providers[0] == CUDA else "cpu")

    @property
    def providers(self) -> list[str]:
        return self.decoder.get_providers()

    def _run(self, session: ort.InferenceSession, feeds: dict[str, Tensor]) -> list[Tensor]:
        if self.device.type == "cuda":
            return run_bound(session, {name: t.to(self.device) for name, t in feeds.items()}, "cuda")
        # On the CPU a binding costs more per call than the copies it saves (≈ 0.15 ms per decoder step).
        outputs = session.run(None, {name: np.ascontiguousarray(t.numpy()) for name, t in feeds.items()})
        return [torch.from_numpy(array) for array in outputs]

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        outputs = self._run(self.encoder, {"src": src, "src_mask": src_mask})
        return DecoderState(**dict(zip(self.specs.state_fields, outputs)))

    def decode_step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        feeds = {"tokens": tokens, **{name: getattr(state, name) for name in self.specs.state_fields}}
        outputs = dict(zip(self.specs.decoder.outputs, self._run(self.decoder, feeds)))
        updated = {name: outputs[NEXT + name] for name in self.specs.recurrent_fields}
        return StepOutput(outputs["logits"], replace(state, **updated), outputs["attention"], outputs.get(COPY))

"""The ONNX graphs of a captioner: the image encoder (photos → region grid) and the decoder pair.

The decoder pair is the seq2seq one from :mod:`pipelines.onnx_graphs` with the grid as its source:
``encoder.onnx`` (grid, mask → first state) and ``decoder_step.onnx``, so :class:`OnnxBackend` and the
shared search drive it unchanged. ``image_encoder.onnx`` runs before it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor

from models.captioning import Captioner, grid_mask
from models.decoder import DecoderState
from models.image_encoder import ImageEncoder
from pipelines.config import RuntimeConfig
from pipelines.onnx_backend import OnnxBackend, create_session
from pipelines.onnx_graphs import (
    BATCH,
    SOURCE,
    GraphSpec,
    GraphSpecs,
    _DecoderStepGraph,
    _EncoderGraph,
    export_graph,
    graph_specs,
)

IMAGE_GRAPH = GraphSpec(
    stem="image_encoder",
    inputs=("images",),
    outputs=("grid",),
    dynamic_axes={"images": {0: BATCH, 2: "height", 3: "width"}, "grid": {0: BATCH, 1: SOURCE}},
)
"""Photos ``(B, 3, H, W)`` in [0, 1] → region grid ``(B, S, C)``."""


def dummy_grid(batch: int, regions: int, feature_dim: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A random grid ``(batch, regions, feature_dim)`` of non-negative features and its all-True mask."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.rand(batch, regions, feature_dim, generator=generator) * 4.0
    return grid, grid_mask(grid)


def captioner_specs(model: Captioner) -> GraphSpecs:
    """The decoder-pair declaration for the state fields ``model`` fills in."""
    with torch.no_grad():
        state = model.encode(*dummy_grid(1, 4, model.feature_dim))
    return graph_specs(tuple(f.name for f in fields(DecoderState) if getattr(state, f.name) is not None))


def export_caption_graphs(encoder: ImageEncoder, model: Captioner, folder: Path, opset: int) -> GraphSpecs:
    """Write ``image_encoder.onnx``, ``encoder.onnx`` and ``decoder_step.onnx`` (fp32) into ``folder``."""
    encoder, model = encoder.eval(), model.eval()
    specs = captioner_specs(model)
    folder.mkdir(parents=True, exist_ok=True)
    images = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        grid = encoder(images)  # (2, S, C)
        state = model.encode(grid, grid_mask(grid))
    tokens = torch.full((2,), model.special.bos, dtype=torch.long)
    exports = [
        (encoder, (images,), IMAGE_GRAPH),
        (_EncoderGraph(model, specs).eval(), (grid, grid_mask(grid)), specs.encoder),
        (
            _DecoderStepGraph(model, specs).eval(),
            (tokens, *(getattr(state, n) for n in specs.state_fields)),
            specs.decoder,
        ),
    ]
    for module, args, spec in exports:  # every module in eval mode: export restores each module's mode
        export_graph(module, args, folder / spec.file(), spec, opset)
    return specs


class OnnxImageEncoder:
    """``image_encoder.onnx`` behind the :class:`ImageEncoder` call: photos ``(B, 3, H, W)`` → grid ``(B, S, C)``."""

    def __init__(self, folder: Path, runtime: RuntimeConfig) -> None:
        self.session: ort.InferenceSession = create_session(folder / IMAGE_GRAPH.file(runtime.precision), runtime)

    def __call__(self, images: Tensor) -> Tensor:
        (grid,) = self.session.run(None, {"images": images.detach().cpu().float().contiguous().numpy()})
        return torch.from_numpy(grid)


@dataclass(frozen=True)
class CaptionSessions:
    """An exported captioner in ONNX Runtime: photos → grid, then the decoder pair behind the search protocol."""

    image_encoder: OnnxImageEncoder
    decoder: OnnxBackend

    @classmethod
    def open(cls, folder: Path, specs: GraphSpecs, runtime: RuntimeConfig) -> CaptionSessions:
        return cls(OnnxImageEncoder(folder, runtime), OnnxBackend(folder, specs, runtime))

    @property
    def providers(self) -> list[str]:
        return self.decoder.providers

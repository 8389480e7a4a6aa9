"""The ONNX graphs of a captioner: the image encoder (photos → region grid) and the decoder pair.

The decoder pair is the seq2seq one (:func:`attnops.pipelines.inference.graphs.graph_specs`) with the grid as its
source: ``encoder.onnx`` (grid, mask → first state) and ``decoder_step.onnx``, so :class:`OnnxBackend` and the
shared search drive it unchanged. ``image_encoder.onnx`` runs before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
import torch
from torch import Tensor

from attnops.models.captioning import grid_mask
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.graphs import BATCH, SOURCE, GraphSpec, GraphSpecs
from attnops.pipelines.inference.onnx_runtime import OnnxBackend, create_session

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

"""What the captioning export adds to the shared steps: three graphs, their parity check and ONNX caption scores."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from attnops.models.captioners import CaptionModel
from attnops.models.captioning import grid_mask
from attnops.models.image_encoder import ImageEncoder
from attnops.pipelines.captioning.captions import IMAGES_FOLDER, CaptionSplit, load_captions
from attnops.pipelines.captioning.config import CaptioningConfig
from attnops.pipelines.captioning.decode import caption_photos
from attnops.pipelines.captioning.graphs import IMAGE_GRAPH, CaptionSessions, dummy_grid
from attnops.pipelines.captioning.image_features import load_images
from attnops.pipelines.captioning.image_input import INPUT_SIZE
from attnops.pipelines.captioning.metrics import caption_scores
from attnops.pipelines.captioning.model import CaptionRunModel, load_caption_model
from attnops.pipelines.captioning.parity import check_caption_parity
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.inference.graphs import GraphSpecs, graph_specs
from attnops.pipelines.onnx_export import export_decoder_pair, export_graph, state_fields
from attnops.pipelines.task import Graphs, ParityCheck

PARITY_PHOTOS = 50
"""Photos of the parity split whose greedy captions must be identical."""


@dataclass
class TrainedCaptioner(CaptionRunModel):
    """The run's captioner with the first photos of the parity split (``photos``: ``(N, 3, H, W)``)."""

    parity_data: CaptionSplit
    photo_files: list[Path]
    photos: Tensor


def load_trained(run_id: str, config: CaptioningConfig) -> TrainedCaptioner:
    stored = load_caption_model(run_id, config)
    folder = config.data.folder()
    splits = load_captions(folder)
    split = config.export.parity_split
    if split not in splits:
        raise UserError(f"export.parity_split {split!r} is not one of {', '.join(splits)}")
    data = splits[split].head(PARITY_PHOTOS)
    files = [folder / IMAGES_FOLDER / name for name in data.images]
    return TrainedCaptioner(stored.config, stored.codec, stored.model, stored.encoder, data, files, load_images(files))


def captioner_specs(model: CaptionModel) -> GraphSpecs:
    """The decoder-pair declaration for the state fields ``model`` fills in."""
    return graph_specs(state_fields(model, *dummy_grid(1, 4, model.feature_dim)))


def export_caption_graphs(encoder: ImageEncoder, model: CaptionModel, folder: Path, opset: int) -> GraphSpecs:
    """Write ``image_encoder.onnx``, ``encoder.onnx`` and ``decoder_step.onnx`` (fp32) into ``folder``."""
    encoder, model = encoder.eval(), model.eval()  # every module in eval mode: export restores each one's mode
    specs = captioner_specs(model)
    folder.mkdir(parents=True, exist_ok=True)
    images = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    export_graph(encoder, (images,), folder / IMAGE_GRAPH.file(), IMAGE_GRAPH, opset)
    with torch.no_grad():
        grid = encoder(images)  # (2, S, C)
    export_decoder_pair(model, specs, grid, grid_mask(grid), folder, opset)
    return specs


def write_graphs(trained: TrainedCaptioner, folder: Path, opset: int) -> Graphs:
    specs = export_caption_graphs(trained.encoder, trained.model, folder, opset)
    return Graphs(state_fields=specs.state_fields, image_size=INPUT_SIZE)


def _sessions(folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> CaptionSessions:
    return CaptionSessions.open(folder, graph_specs(graphs.state_fields), runtime)


def parity_check(trained: TrainedCaptioner, folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> ParityCheck:
    config = trained.config
    parity = check_caption_parity(
        trained.encoder, trained.model, _sessions(folder, graphs, runtime), trained.photos,
        search_settings(config, trained.codec), config.export.parity_tolerance,
    )  # fmt: skip
    return ParityCheck(
        parity=parity,
        metrics={
            "parity_max_rel_grid": parity.max_rel_grid,
            "parity_max_abs_logits": parity.max_abs_logits,
            "parity_max_abs_attention": parity.max_abs_attention,
            "parity_greedy_mismatches": float(parity.greedy_mismatches),
        },
        summary=f"max |Δlogits| {parity.max_abs_logits:.3g}, relative |Δgrid| {parity.max_rel_grid:.3g} (tolerance "
        f"{parity.tolerance:g}), greedy mismatches {parity.greedy_mismatches}/{parity.greedy_sentences} on "
        f"{config.export.parity_split}",
        compared=f"relative |dgrid| {parity.max_rel_grid:.2e}, greedy captions identical on "
        f"{parity.greedy_sentences}/{parity.greedy_sentences} photos",
    )


def caption_figures(
    trained: TrainedCaptioner, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None = None
) -> tuple[tuple[str, ...], dict[str, float]]:
    """BLEU-1..4 and CIDEr-D of the exported graphs' captions of the parity photos (no quantized graphs)."""
    sessions = _sessions(folder, graphs, runtime)
    settings = search_settings(trained.config, trained.codec)
    captions = caption_photos(sessions.image_encoder, sessions.decoder, trained.codec, trained.photos, settings)
    data, split = trained.parity_data, trained.config.export.parity_split
    scores = caption_scores([c.text for c in captions], data.captions)
    return ("fp32",), {f"onnx_fp32_{split}{len(data)}_{name}": value for name, value in scores.items()}


def example_input(trained: TrainedCaptioner) -> pd.DataFrame:
    files = trained.photo_files[:2]
    return pd.DataFrame({"image": [base64.b64encode(path.read_bytes()).decode() for path in files]})

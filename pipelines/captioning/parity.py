"""PyTorch vs ONNX Runtime for a captioner: grids, step outputs on fresh shapes, identical greedy captions."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from attnops.models.captioners import CaptionModel
from attnops.models.captioning import grid_mask
from attnops.models.image_encoder import ImageEncoder
from attnops.models.search import SearchSettings, decode
from attnops.pipelines.captioning.graphs import CaptionSessions, dummy_grid
from attnops.pipelines.decoder_parity import max_step_differences
from attnops.pipelines.inference.bundle import Parity

FRESH_SHAPES = ((1, 25), (3, 25), (5, 100))
"""(batch, regions) pairs, all different from the export's dummy input (2 photos of 160 px)."""


@torch.no_grad()
def check_caption_parity(
    encoder: ImageEncoder,
    model: CaptionModel,
    sessions: CaptionSessions,
    photos: Tensor,
    settings: SearchSettings,
    tolerance: float,
) -> Parity:
    """Compare the ONNX graphs with the PyTorch modules; greedy captions of ``photos (N, 3, H, W)`` must match."""
    encoder, model, backend = encoder.eval(), model.eval(), sessions.decoder
    expected_grid, actual_grid = encoder(photos), sessions.image_encoder(photos)  # (N, S, C)
    grid_error = float((expected_grid - actual_grid).abs().max() / expected_grid.abs().max().clamp(min=1e-12))
    sources = [dummy_grid(batch, regions, model.feature_dim, seed=seed + 1)
               for seed, (batch, regions) in enumerate(FRESH_SHAPES)]  # fmt: skip
    max_logits, max_attention = max_step_differences(model, backend, sources, model.special.bos, model.vocab_size)
    greedy = replace(settings, beam_size=1)
    expected = decode(model, expected_grid, grid_mask(expected_grid), greedy)
    actual = decode(backend, actual_grid, grid_mask(actual_grid), greedy)
    return Parity(
        max_rel_grid=grid_error,
        max_abs_logits=max_logits,
        max_abs_attention=max_attention,
        tolerance=tolerance,
        greedy_sentences=photos.shape[0],
        greedy_mismatches=sum(e.tokens != a.tokens for e, a in zip(expected, actual)),
    )

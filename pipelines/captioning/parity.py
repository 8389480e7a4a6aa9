"""PyTorch vs ONNX Runtime for a captioner: grids, step outputs on fresh shapes, identical greedy captions."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from models.captioning import Captioner, grid_mask
from models.image_encoder import ImageEncoder
from models.search import DecodingBackend, SearchSettings, decode
from pipelines.captioning.graphs import CaptionSessions, dummy_grid
from pipelines.inference.bundle import Parity

FRESH_SHAPES = ((1, 25), (3, 25), (5, 100))
"""(batch, regions) pairs, all different from the export's dummy input (2 photos of 160 px)."""
STEPS = 4


@torch.no_grad()
def _max_step_differences(model: Captioner, backend: DecodingBackend) -> tuple[float, float]:
    """Largest |Δlogits| and |Δattention| over a few steps, each side following its own state."""
    worst_logits = worst_attention = 0.0
    for seed, (batch, regions) in enumerate(FRESH_SHAPES):
        grid, mask = dummy_grid(batch, regions, model.feature_dim, seed=seed + 1)
        expected_state, actual_state = model.encode(grid, mask), backend.encode(grid, mask)
        tokens = torch.full((batch,), model.special.bos, dtype=torch.long)
        for step in range(STEPS):
            expected, actual = model.decode_step(tokens, expected_state), backend.decode_step(tokens, actual_state)
            worst_logits = max(worst_logits, float((expected.logits - actual.logits).abs().max()))
            worst_attention = max(worst_attention, float((expected.attention - actual.attention).abs().max()))
            expected_state, actual_state = expected.state, actual.state
            generator = torch.Generator().manual_seed(100 * seed + step)
            tokens = torch.randint(4, model.vocab_size, (batch,), generator=generator)
    return worst_logits, worst_attention


@torch.no_grad()
def check_caption_parity(
    encoder: ImageEncoder,
    model: Captioner,
    sessions: CaptionSessions,
    photos: Tensor,
    settings: SearchSettings,
    tolerance: float,
) -> Parity:
    """Compare the ONNX graphs with the PyTorch modules; greedy captions of ``photos (N, 3, H, W)`` must match."""
    encoder, model, backend = encoder.eval(), model.eval(), sessions.decoder
    expected_grid, actual_grid = encoder(photos), sessions.image_encoder(photos)  # (N, S, C)
    grid_error = float((expected_grid - actual_grid).abs().max() / expected_grid.abs().max().clamp(min=1e-12))
    max_logits, max_attention = _max_step_differences(model, backend)
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

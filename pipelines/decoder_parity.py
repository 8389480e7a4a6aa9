"""The step-by-step comparison every decoder-pair export makes: PyTorch vs ONNX Runtime on fresh shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from attnops.models.search import DecodingBackend
from attnops.pipelines.inference.bundle import Parity
from attnops.pipelines.task import ParityCheck

STEPS = 4
FRESH_SHAPES = ((1, 3), (3, 11), (5, 23))
"""(batch, source length) pairs for parity, all different from the export's dummy input (2, 7)."""


@torch.no_grad()
def max_step_differences(
    model: DecodingBackend, backend: DecodingBackend, sources: list[tuple[Tensor, Tensor]], bos: int, vocab_size: int
) -> tuple[float, float]:
    """Largest |Δlogits| and |Δattention| over a few decoder steps from each source, each side following its
    own state.

    Args:
        sources: ``(src, src_mask)`` pairs, ``src`` ``(B, S)`` token ids or ``(B, S, C)`` features, of shapes
            other than the export's dummy input.
        vocab_size: the tokens fed after the first step are drawn from ``[4, vocab_size)`` (no special token).
    """
    worst_logits = worst_attention = 0.0
    for seed, (src, mask) in enumerate(sources):
        batch = src.shape[0]
        expected_state, actual_state = model.encode(src, mask), backend.encode(src, mask)
        tokens = torch.full((batch,), bos, dtype=torch.long)  # (B,)
        for step in range(STEPS):
            expected, actual = model.decode_step(tokens, expected_state), backend.decode_step(tokens, actual_state)
            logits, attention = actual.logits.cpu(), actual.attention.cpu()  # the backend's may be on a GPU
            worst_logits = max(worst_logits, float((expected.logits - logits).abs().max()))
            worst_attention = max(worst_attention, float((expected.attention - attention).abs().max()))
            expected_state, actual_state = expected.state, actual.state
            generator = torch.Generator().manual_seed(100 * seed + step)
            tokens = torch.randint(4, vocab_size, (batch,), generator=generator)
    return worst_logits, worst_attention


def compare_decoders(
    model: DecodingBackend,
    backend: DecodingBackend,
    sources: list[tuple[Tensor, Tensor]],
    bos: int,
    vocab_size: int,
    tolerance: float,
    greedy: Callable[[DecodingBackend], list[Any]],
    same: Callable[[Any, Any], bool],
) -> Parity:
    """Step differences from ``sources`` (see :func:`max_step_differences`), then ``greedy`` output of both
    sides compared item by item with ``same``."""
    max_logits, max_attention = max_step_differences(model, backend, sources, bos, vocab_size)
    expected, actual = greedy(model), greedy(backend)
    return Parity(
        max_abs_logits=max_logits,
        max_abs_attention=max_attention,
        tolerance=tolerance,
        greedy_sentences=len(expected),
        greedy_mismatches=sum(not same(e, a) for e, a in zip(expected, actual)),
    )


def decoder_parity_check(parity: Parity, split: str, items: str, logits: str = "logits") -> ParityCheck:
    """The figures and words of a decoder-pair comparison: step differences, then greedy output on ``split``'s
    ``items`` (e.g. "sentences"); ``logits`` names what the step returns (e.g. "log p")."""
    return ParityCheck(
        parity=parity,
        metrics={
            "parity_max_abs_logits": parity.max_abs_logits,
            "parity_max_abs_attention": parity.max_abs_attention,
            "parity_greedy_mismatches": float(parity.greedy_mismatches),
        },
        summary=f"max |Δ{logits}| {parity.max_abs_logits:.3g} (tolerance {parity.tolerance:g}), greedy mismatches "
        f"{parity.greedy_mismatches}/{parity.greedy_sentences} on {split}",
        compared=f"greedy identical on {parity.greedy_sentences}/{parity.greedy_sentences} {items}",
    )

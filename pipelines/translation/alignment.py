"""Attention weights as a small text grid, for terminals."""

from __future__ import annotations

from torch import Tensor

SHADES = " ░▒▓█"
"""Cell characters for weights in [0, 0.2), [0.2, 0.4), … [0.8, 1]."""


def text_grid(weights: Tensor, source_tokens: list[str], target_tokens: list[str]) -> str:
    """Render ``weights (T, S)``: one row per target token, one column per source token."""
    label_width = max(len(t) for t in target_tokens)
    widths = [max(len(t), 1) for t in source_tokens]
    lines = [" " * label_width + " | " + " ".join(t.ljust(w) for t, w in zip(source_tokens, widths))]
    for token, row in zip(target_tokens, weights.tolist()):
        cells = [SHADES[min(int(w * len(SHADES)), len(SHADES) - 1)].center(width) for w, width in zip(row, widths)]
        lines.append(token.rjust(label_width) + " | " + " ".join(cells))
    return "\n".join(lines)

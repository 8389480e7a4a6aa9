"""Where the captioner looked: the photo once per generated word, with that word's attention map over it."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402

COLUMNS = 5


def upsample_attention(weights: Tensor, height: int, width: int) -> Tensor:
    """Square-grid weights ``(T, S)`` → maps ``(T, height, width)``, bilinear, each stretched to [0, 1].

    The stretch (as in the SAT figures) shows where a word looked most and least, however flat its
    distribution is; the figure titles give each word's largest weight so flat maps are not mistaken.
    """
    side = math.isqrt(weights.shape[1])
    if side * side != weights.shape[1]:
        raise ValueError(f"attention over {weights.shape[1]} regions is not a square grid")
    grid = weights.float().view(-1, 1, side, side)  # (T, 1, h, w)
    maps = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False).squeeze(1)
    low, high = maps.flatten(1).amin(dim=1).view(-1, 1, 1), maps.flatten(1).amax(dim=1).view(-1, 1, 1)
    return (maps - low) / (high - low).clamp(min=1e-12)  # (T, H, W)


def plot_caption_attention(photo: Tensor, words: list[str], weights: Tensor, path: Path, title: str = "") -> Path:
    """Save the photo ``(3, H, W)`` in [0, 1], then one panel per word with its map from ``weights (T, S)``."""
    steps = min(len(words), weights.shape[0])
    height, width = photo.shape[1:]
    maps = upsample_attention(weights[:steps], height, width)  # (T, H, W)
    picture = photo.permute(1, 2, 0).numpy()  # (H, W, 3)
    rows = math.ceil((steps + 1) / COLUMNS)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(2.2 * COLUMNS, 2.35 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(picture)
    axes.flat[0].set_title("photo", fontsize=9)
    peaks = weights[:steps].amax(dim=1).tolist()
    for panel, (word, heat, peak) in enumerate(zip(words[:steps], maps, peaks), start=1):
        ax = axes.flat[panel]
        ax.imshow(picture * (0.15 + 0.85 * heat.unsqueeze(-1).numpy()))  # dark where the word did not look
        ax.set_title(f"{word}  (max {peak:.2f})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

"""The study's plots: the validation curve against wall time, and test quality against decode speed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from attnops.pipelines.study.report import Child


def _colors(labels: list[str]) -> dict[str, object]:
    palette = plt.get_cmap("tab10")
    return {label: palette(i % 10) for i, label in enumerate(labels)}


def _save(figure, axes, path: Path) -> Path:
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_curves(children: list[Child], labels: list[str], metric: str, threshold: float | None, path: Path) -> Path:
    """One line per trial (seeds of a config share a colour): ``metric`` at each validation against minutes."""
    colors = _colors(labels)
    figure, axes = plt.subplots(figsize=(8, 5))
    named = set()
    for child in children:
        minutes = [seconds / 60 for seconds, _ in child.curve]
        values = [value for _, value in child.curve]
        label = None if child.label in named else child.label
        named.add(child.label)
        axes.plot(minutes, values, marker="o", markersize=3, color=colors[child.label], label=label)
    if threshold is not None:
        axes.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set(xlabel="wall minutes since training started", ylabel=metric, title=f"{metric} against wall time")
    return _save(figure, axes, path)


def plot_quality_speed(children: list[Child], labels: list[str], quality: str, speed: str, path: Path) -> Path:
    """One point per trial: test ``quality`` against ``speed`` (milliseconds per sentence)."""
    colors = _colors(labels)
    figure, axes = plt.subplots(figsize=(7, 5))
    named = set()
    for child in children:
        if quality in child.metrics and speed in child.metrics:
            label = None if child.label in named else child.label
            named.add(child.label)
            axes.scatter(child.metrics[speed], child.metrics[quality], color=colors[child.label], label=label)
    axes.set(xlabel=f"{speed} (ms per sentence)", ylabel=quality, title="test quality against decode time")
    return _save(figure, axes, path)

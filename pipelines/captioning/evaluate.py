"""Score captions (BLEU-1..4, CIDEr-D) on a split and draw attention over the photos."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from attnops.models.search import DecodingBackend, SearchSettings
from attnops.pipelines import tracking
from attnops.pipelines.captioning.captions import CaptionCodec, CaptionSplit
from attnops.pipelines.captioning.decode import Caption, caption_grids
from attnops.pipelines.captioning.figures import plot_caption_attention
from attnops.pipelines.captioning.image_features import load_images
from attnops.pipelines.captioning.metrics import caption_scores

log = logging.getLogger(__name__)


@dataclass
class CaptionEvaluation:
    """Figures per split (``{split}_bleu1..4``, ``{split}_cider``), sample captions and attention images."""

    metrics: dict[str, float]
    samples: list[tuple[str, Caption]]
    figures: list[Path]

    def metric_lines(self) -> list[str]:
        return [f"{name}: {value:.3f}" if "cider" in name or "attention" in name else f"{name}: {value:.2f}"
                for name, value in sorted(self.metrics.items())]  # fmt: skip

    def sample_lines(self) -> list[str]:
        return [f"{image}: {caption.text}" for image, caption in self.samples]


def evaluate_captions(
    backend: DecodingBackend,
    codec: CaptionCodec,
    splits: dict[str, tuple[CaptionSplit, Tensor]],
    photos: Path,
    settings: SearchSettings,
    figure_photos: int,
    suffix: str = "",
) -> CaptionEvaluation:
    """Caption each split's grids, score them, and draw attention for the first photos of the first split.

    Args:
        splits: split name → (its photos and references, their grids ``(N, S, C)``).
        photos: the folder of the photo files (for the figures).
    """
    metrics: dict[str, float] = {}
    samples: list[tuple[str, Caption]] = []
    figures: list[Path] = []
    folder = Path(tempfile.mkdtemp(prefix="attnops-captions-"))
    for split, (data, grids) in splits.items():
        captions = caption_grids(backend, codec, grids, settings)
        scores = caption_scores([c.text for c in captions], data.captions)
        metrics.update({f"{split}_{name}{suffix}": value for name, value in scores.items()})
        metrics.update({f"{split}_{name}{suffix}": value for name, value in attention_peaks(captions).items()})
        log.info("%s: BLEU-4 %.2f, CIDEr %.3f", split, scores["bleu4"], scores["cider"])
        if not samples:
            samples = list(zip(data.images, captions))[:figure_photos]
            pictures = load_images([photos / name for name, _ in samples]) if samples else []
            figures = [
                plot_caption_attention(
                    picture, c.words, c.attention, folder / f"{split}_{Path(name).stem}.png", title=c.text
                )
                for picture, (name, c) in zip(pictures, samples)
            ]
    return CaptionEvaluation(metrics, samples, figures)


def attention_peaks(captions: list[Caption]) -> dict[str, float]:
    """How sharp the attention is: the median and 90th percentile, over every generated word, of its
    largest weight over the regions, and the uniform weight ``1 / regions`` they compare with."""
    peaks = torch.cat([c.attention.amax(dim=-1) for c in captions if c.attention.numel()])
    if not peaks.numel():
        return {}
    median, p90 = torch.quantile(peaks.float(), torch.tensor([0.5, 0.9])).tolist()
    return {"attention_peak_median": median, "attention_peak_p90": p90,
            "attention_uniform": 1.0 / captions[0].attention.shape[-1]}  # fmt: skip


def log_caption_evaluation(result: CaptionEvaluation) -> None:
    tracking.log_metrics(result.metrics)
    for path in result.figures:
        tracking.log_artifact(path, "attention")
    tracking.log_text("\n".join(f"{name}\t{c.text}" for name, c in result.samples), "samples/captions.tsv")

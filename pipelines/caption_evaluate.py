"""Caption photos with any decoding backend; score BLEU-1..4 and CIDEr-D; draw attention over photos."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from models.captioning import grid_mask
from models.search import DecodingBackend, SearchSettings, decode
from pipelines import tracking
from pipelines.caption_figures import plot_caption_attention
from pipelines.caption_metrics import caption_scores
from pipelines.captions import CaptionCodec, CaptionSplit
from pipelines.image_features import load_images

log = logging.getLogger(__name__)


@dataclass
class Caption:
    """A generated caption: its text, its words plus ``</s>``, and attention ``(steps, regions)``."""

    text: str
    words: list[str]
    attention: Tensor


def caption_grids(
    backend: DecodingBackend, codec: CaptionCodec, grids: Tensor, settings: SearchSettings, batch_size: int = 50
) -> list[Caption]:
    """Caption every region grid of ``grids (N, S, C)``, in order."""
    captions = []
    for start in range(0, grids.shape[0], batch_size):
        src = grids[start : start + batch_size].float()  # (B, S, C)
        hypotheses = decode(backend, src, grid_mask(src), settings)
        texts = codec.decode([h.tokens for h in hypotheses])
        captions += [
            Caption(text, [*codec.tokens(h.tokens), "</s>"], h.attention) for h, text in zip(hypotheses, texts)
        ]
    return captions


def caption_photos(
    image_encoder: Callable[[Tensor], Tensor],
    backend: DecodingBackend,
    codec: CaptionCodec,
    photos: Tensor,
    settings: SearchSettings,
    batch_size: int = 50,
) -> list[Caption]:
    """Caption photos ``(N, 3, H, W)`` in [0, 1]: the image encoder (PyTorch or ONNX) makes the grids."""
    captions = []
    for start in range(0, photos.shape[0], batch_size):
        captions += caption_grids(backend, codec, image_encoder(photos[start : start + batch_size]), settings)
    return captions


@dataclass
class CaptionEvaluation:
    """Figures per split (``{split}_bleu1..4``, ``{split}_cider``), sample captions and attention images."""

    metrics: dict[str, float]
    samples: list[tuple[str, Caption]]
    figures: list[Path]


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


def log_caption_evaluation(result: CaptionEvaluation) -> None:
    tracking.log_metrics(result.metrics)
    for path in result.figures:
        tracking.log_artifact(path, "attention")
    tracking.log_text("\n".join(f"{name}\t{c.text}" for name, c in result.samples), "samples/captions.tsv")

"""The nearest-neighbour caption baseline (Devlin et al. 2015): a test photo gets a caption of the training
photo whose encoder features are the most similar, no language model involved. A captioner that cannot
beat it is retrieving, not describing."""

from __future__ import annotations

from pathlib import Path

import sacrebleu
import torch
import torch.nn.functional as F
from torch import Tensor

from attnops.pipelines.captioning.captions import CaptionSplit
from attnops.pipelines.captioning.image_features import cached_features
from attnops.pipelines.captioning.metrics import caption_scores


def consensus_caption(captions: list[str]) -> str:
    """The one of a photo's captions that agrees most with the others (highest sentence BLEU against them)."""

    def agreement(index: int) -> float:
        others = [c for i, c in enumerate(captions) if i != index]
        return sacrebleu.sentence_bleu(captions[index], others, tokenize="none").score

    return captions[max(range(len(captions)), key=agreement)]


def nearest_neighbour_captions(train_grids: Tensor, train: CaptionSplit, grids: Tensor) -> list[str]:
    """For each photo of ``grids (M, S, C)``, the consensus caption of the training photo (of
    ``train_grids (N, S, C)``) with the highest cosine similarity of mean-pooled features."""
    keys = F.normalize(train_grids.float().mean(dim=1), dim=-1)  # (N, C)
    queries = F.normalize(grids.float().mean(dim=1), dim=-1)  # (M, C)
    nearest = (queries @ keys.T).argmax(dim=-1)  # (M,)
    return [consensus_caption(train.captions[i]) for i in nearest.tolist()]


@torch.no_grad()
def nearest_neighbour_scores(
    photos: Path, splits: dict[str, CaptionSplit], split: str, tap_block: int | None
) -> dict[str, float]:
    """BLEU-1..4 and CIDEr-D of the baseline on ``split`` as ``{split}_nn_…``, from the frozen encoder's
    (cached) features of ``photos``, the training photos of ``splits`` as the ones to retrieve from."""
    train, scored = splits["train"], splits[split]
    captions = nearest_neighbour_captions(
        cached_features(photos, train.images, tap_block), train, cached_features(photos, scored.images, tap_block)
    )
    return {f"{split}_nn_{name}": value for name, value in caption_scores(captions, scored.captions).items()}

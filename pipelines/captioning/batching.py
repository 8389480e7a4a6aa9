"""Batches of (cached region grid, tokenized caption) pairs for the captioning module."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from attnops.models.caption_module import CaptionBatch
from attnops.models.captioning import grid_mask
from attnops.models.seq2seq import SpecialTokens
from attnops.pipelines.batching import BucketBatchSampler, pad_rows


@dataclass
class CaptionDataset(Dataset):
    """Captions of a set of photos, each paired with its photo's region grid.

    Attributes:
        views: per view (e.g. as-is and mirrored), the photos' grids ``(N, S, C)`` or the photos
            ``(N, 3, H, W)``; an item draws one view at random, so extra views act as augmentation.
        pairs: ``(photo index, caption ids)`` items.
        references: every reference caption of each photo.
    """

    views: list[Tensor]
    pairs: list[tuple[int, list[int]]]
    references: list[list[str]]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Tensor, list[int], list[str]]:
        photo, caption = self.pairs[index]
        view = int(torch.randint(len(self.views), ())) if len(self.views) > 1 else 0
        return self.views[view][photo], caption, self.references[photo]


def caption_dataset(
    views: list[Tensor], captions: list[list[int]], references: list[list[str]], every_caption: bool
) -> CaptionDataset:
    """Pair each photo with all of its captions (``every_caption``, training) or with its first one.

    Args:
        views: grids ``(N, S, C)`` or photos ``(N, 3, H, W)``, per view.
        captions: caption ids, the photos' captions in order, ``len(references[i])`` per photo.
        references: normalized reference captions per photo.
    """
    pairs, start = [], 0
    for photo, refs in enumerate(references):
        own = captions[start : start + len(refs)]
        pairs += [(photo, c) for c in (own if every_caption else own[:1])]
        start += len(refs)
    return CaptionDataset(views, pairs, references)


def collate_captions(items: list[tuple[Tensor, list[int], list[str]]], special: SpecialTokens) -> CaptionBatch:
    grids, captions, references = zip(*items)
    src = torch.stack(grids).float()  # (B, S, C)
    return CaptionBatch(
        src=src,
        src_mask=grid_mask(src),
        tgt_in=pad_rows([[special.bos, *c] for c in captions], special.pad),  # (B, T)
        tgt_out=pad_rows([[*c, special.eos] for c in captions], special.pad),  # (B, T)
        references=list(references),
    )


def caption_loader(
    dataset: CaptionDataset, batch_size: int, shuffle: bool, special: SpecialTokens, seed: int = 0
) -> DataLoader:
    """A DataLoader over caption-length buckets (shuffled for training, in photo order otherwise)."""
    sampler = BucketBatchSampler([len(c) for _, c in dataset.pairs], batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=lambda items: collate_captions(items, special))

"""Shared test data for the captioning tests."""

from __future__ import annotations

import torch

from attnops.models.caption_module import CaptionBatch
from attnops.models.image_encoder import ImageEncoder
from attnops.pipelines.captioning.batching import caption_dataset, collate_captions
from attnops.pipelines.captioning.captions import CaptionCodec, load_captions
from attnops.pipelines.captioning.image_features import encode_images
from attnops.pipelines.translation.config import DataConfig

FLICKR = DataConfig().data_root() / "flickr8k_mini"


def real_photo_batch(photos: int = 8) -> tuple[CaptionBatch, CaptionCodec]:
    """The first training photos of flickr8k_mini as one batch of grids ``(N, 25, 1280)``, one caption each,
    with a vocabulary of their captions."""
    train = load_captions(FLICKR)["train"].head(photos)
    with torch.no_grad():
        grids = encode_images(ImageEncoder(), [FLICKR / "images" / name for name in train.images])
    captions = [c for refs in train.captions for c in refs]
    codec = CaptionCodec.train(captions, min_frequency=1)
    dataset = caption_dataset([grids], codec.encode(captions), train.captions, every_caption=False)
    return collate_captions([dataset[i] for i in range(len(dataset))], codec.special), codec

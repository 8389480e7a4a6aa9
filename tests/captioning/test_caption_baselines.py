"""The nearest-neighbour caption baseline: retrieval by encoder features, the consensus caption."""

from __future__ import annotations

import torch

from attnops.pipelines.captioning.baselines import consensus_caption, nearest_neighbour_captions
from attnops.pipelines.captioning.captions import CaptionSplit


def test_consensus_is_the_caption_the_others_agree_with():
    captions = ["a dog runs on the grass", "a dog runs on grass", "the dog runs on the grass", "two cats sleep"]
    assert consensus_caption(captions) in captions[:3]
    assert consensus_caption(["a man rides a bike", "a man rides a bicycle", "sunset"]) != "sunset"


def test_each_photo_retrieves_its_most_similar_training_photo():
    generator = torch.Generator().manual_seed(0)
    train_grids = torch.randn(6, 9, 16, generator=generator)  # (N, S, C)
    captions = [[f"photo {i} caption", f"photo {i} caption"] for i in range(6)]
    train = CaptionSplit([f"{i}.jpg" for i in range(6)], captions)
    queries = train_grids[[4, 1]] + 0.01 * torch.randn(2, 9, 16, generator=generator)  # near photos 4 and 1
    assert nearest_neighbour_captions(train_grids, train, queries) == ["photo 4 caption", "photo 1 caption"]

"""The pretrained image encoder: real ImageNet weights (checked on real photos) and its feature grid."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from PIL import Image

from attnops.models.image_encoder import IMAGENET_DOG_CLASSES, ImageEncoder
from attnops.pipelines.translation.config import DataConfig

FLICKR = DataConfig().data_root() / "flickr8k_mini"
ANIMALS = ("dog", "pupp", "cat", "horse", "animal", "bird", "cow", "sheep", "goat", "bull", "pony", "camel",
           "duck", "deer", "pig", "poodle", "collie", "terrier", "hound", "labrador", "shepherd")  # fmt: skip


def _photos(keep, n: int = 24) -> torch.Tensor:
    rows = [json.loads(line) for line in gzip.open(FLICKR / "captions.jsonl.gz", "rt")]
    chosen = [r for r in rows if keep([c.lower() for c in r["captions"]])][:n]
    arrays = [np.asarray(Image.open(FLICKR / "images" / r["image"]).convert("RGB"), dtype=np.float32) for r in chosen]
    return torch.from_numpy(np.stack(arrays) / 255.0).permute(0, 3, 1, 2)  # (n, 3, 160, 160) in [0, 1]


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return ImageEncoder().eval()


def _dog_in_top5(encoder: ImageEncoder, images: torch.Tensor) -> float:
    with torch.no_grad():
        top5 = encoder.classify(images).topk(5, dim=-1).indices
    dog = (top5 >= IMAGENET_DOG_CLASSES.start) & (top5 < IMAGENET_DOG_CLASSES.stop)
    return dog.any(dim=-1).float().mean().item()


def test_pretrained_weights_recognise_dogs_in_real_photos(encoder):
    dogs = _photos(lambda captions: all("dog" in c for c in captions))  # all five annotators saw a dog
    others = _photos(lambda captions: not any(a in c for c in captions for a in ANIMALS))  # none saw an animal
    assert _dog_in_top5(encoder, dogs) >= 0.75
    assert _dog_in_top5(encoder, others) <= 0.2


@pytest.mark.parametrize("size, cells", [(160, 25), (224, 49)])
def test_feature_grid_follows_the_input_size(encoder, size, cells):
    with torch.no_grad():
        grid = encoder(torch.rand(2, 3, size, size))
    assert grid.shape == (2, cells, encoder.feature_dim) and encoder.feature_dim == 1280


def test_tapping_an_earlier_block_gives_a_finer_grid():
    tapped = ImageEncoder(tap_block=10).eval()
    with torch.no_grad():
        grid = tapped(torch.rand(1, 3, 160, 160))
    assert grid.shape == (1, 100, tapped.feature_dim)  # stride 16: a 10 × 10 grid


def test_frozen_by_default_and_top_blocks_trainable_on_request(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())
    tuned = ImageEncoder(trainable_blocks=2)
    parameters = tuned.net.named_parameters()
    trainable = {name.split(".")[1] for name, p in parameters if p.requires_grad and name.startswith("_blocks")}
    assert trainable == {str(len(tuned.net._blocks) - 2), str(len(tuned.net._blocks) - 1)}
    with pytest.raises(ValueError, match="tap_block"):
        ImageEncoder(tap_block=99)

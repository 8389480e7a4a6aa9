"""What captioning training adds to the shared fit: grids, the word vocabulary, the module; test figures after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from attnops.models.caption_module import CaptioningModule
from attnops.models.captioners import CaptionModel
from attnops.models.image_encoder import ImageEncoder
from attnops.pipelines import tracking
from attnops.pipelines.captioning.baselines import nearest_neighbour_scores
from attnops.pipelines.captioning.batching import caption_dataset, caption_loader
from attnops.pipelines.captioning.captions import IMAGES_FOLDER, CaptionCodec, CaptionSplit, load_captions
from attnops.pipelines.captioning.config import CaptioningConfig
from attnops.pipelines.captioning.evaluate import CaptionEvaluation, evaluate_captions, log_caption_evaluation
from attnops.pipelines.captioning.image_features import cached_features, encode_images, load_images
from attnops.pipelines.captioning.metrics import caption_metric
from attnops.pipelines.inference.artifacts import TOKENIZER_ARTIFACT
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.task import Training

MONITOR = "val_cider"
"""Validation figure that picks the best checkpoint and stops training early."""


@dataclass
class CaptionData:
    """Every split of the caption data and what the model reads of its photos, per view.

    A view is the split's cached grids ``(N, S, C)``, or its photos ``(N, 3, H, W)`` (float16) when the
    encoder is fine-tuned; training has a second, mirrored view with hflip augmentation.
    """

    photos: Path
    splits: dict[str, CaptionSplit]
    views: dict[str, list[Tensor]]


def _view(config: CaptioningConfig, photos: Path, names: list[str], flip: bool = False) -> Tensor:
    if config.model.trainable_blocks:
        return load_images([photos / name for name in names], flip).half()
    return cached_features(photos, names, config.model.tap_block, flip)


def load_caption_data(config: CaptioningConfig) -> CaptionData:
    """Read the captions, apply the size limits, and load (or encode and cache) every split's view(s)."""
    folder = config.data.folder()
    splits = load_captions(folder)
    splits["train"] = splits["train"].head(config.data.max_train_examples)
    for split in ("val", "test"):
        splits[split] = splits[split].head(config.data.max_eval_examples)
    photos = folder / IMAGES_FOLDER
    views = {name: [_view(config, photos, data.images)] for name, data in splits.items()}
    if config.data.augment == "hflip":
        views["train"].append(_view(config, photos, splits["train"].images, flip=True))
    return CaptionData(photos, splits, views)


def split_grids(config: CaptioningConfig, data: CaptionData, split: str, encoder: ImageEncoder) -> Tensor:
    """Grids ``(N, S, C)`` of a split's photos: the cached ones, or the fine-tuned ``encoder``'s."""
    if not config.model.trainable_blocks:
        return data.views[split][0]
    return encode_images(encoder, [data.photos / name for name in data.splits[split].images])


def load_caption_weights(model: CaptionModel, encoder: ImageEncoder, checkpoint: Path) -> CaptionModel:
    """Load a :class:`CaptioningModule` checkpoint: the captioner, and the encoder's blocks if it tuned them."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    tuned = {k.removeprefix("image_encoder."): v for k, v in state.items() if k.startswith("image_encoder.")}
    if tuned:
        encoder.load_state_dict(tuned)
    encoder.eval()
    return model.eval()


def _flat_captions(data: CaptionSplit) -> list[str]:
    return [caption for captions in data.captions for caption in captions]


def prepare_training(config: CaptioningConfig, data: CaptionData, work: Path) -> Training:
    """Inside the run: train and log the word vocabulary, then the module (with the encoder it tunes, if any)."""
    tracking.log_params({f"data.size.{split}": len(split_data) for split, split_data in data.splits.items()})
    train_split, val_split = data.splits["train"], data.splits["val"]
    codec = CaptionCodec.train(_flat_captions(train_split), config.data.min_word_frequency)
    tracking.log_artifact(codec.save(work / "tokenizer"), TOKENIZER_ARTIFACT)
    tracking.log_params({"vocab.target": codec.vocab_size})
    train_set = caption_dataset(
        data.views["train"], codec.encode(_flat_captions(train_split)), train_split.captions, True
    )
    val_set = caption_dataset(data.views["val"], codec.encode(_flat_captions(val_split)), val_split.captions, False)

    encoder = ImageEncoder(config.model.tap_block, config.model.trainable_blocks)
    module = CaptioningModule(
        config.model,
        config.train.optim,
        encoder.feature_dim,
        codec.vocab_size,
        codec.special,
        text_metric=caption_metric(codec),
        val_max_length=config.train.max_decode_length,
        image_encoder=encoder if config.model.trainable_blocks else None,
    )
    return Training(
        module,
        caption_loader(train_set, config.train.batch_size, True, codec.special, config.train.seed),
        caption_loader(val_set, config.train.batch_size, False, codec.special),
        monitor=MONITOR,
        state={"codec": codec, "encoder": encoder},
    )


def evaluate_trained(
    config: CaptioningConfig, data: CaptionData, training: Training, checkpoint: Path
) -> CaptionEvaluation:
    """Test figures and attention images of the best checkpoint, logged to the run."""
    codec, encoder = training.state["codec"], training.state["encoder"]
    model = load_caption_weights(training.module.model, encoder, checkpoint)
    evaluation = evaluate_captions(
        model,
        codec,
        {"test": (data.splits["test"], split_grids(config, data, "test", encoder))},
        data.photos,
        search_settings(config, codec),
        config.tracking.heatmap_sentences,
    )
    evaluation.metrics.update(nearest_neighbour_scores(data.photos, data.splits, "test", config.model.tap_block))
    log_caption_evaluation(evaluation)
    return evaluation

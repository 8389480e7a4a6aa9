"""A trained captioner as its run stores it, and re-evaluation of that run."""

from __future__ import annotations

from dataclasses import dataclass

from attnops.models.captioners import CaptionModel, build_captioner
from attnops.models.image_encoder import ImageEncoder
from attnops.pipelines import tracking
from attnops.pipelines.captioning.baselines import nearest_neighbour_scores
from attnops.pipelines.captioning.captions import CaptionCodec
from attnops.pipelines.captioning.config import CaptioningConfig
from attnops.pipelines.captioning.evaluate import (
    CaptionEvaluation,
    evaluate_captions,
    log_caption_evaluation,
)
from attnops.pipelines.captioning.train import load_caption_data, load_caption_weights, split_grids
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import CHECKPOINT_ARTIFACT, TOKENIZER_ARTIFACT
from attnops.pipelines.inference.decoding import CONFIG_SEARCH, SearchOverride

CAPTION_SPLITS = ("val", "test")


@dataclass
class CaptionRunModel:
    config: CaptioningConfig
    codec: CaptionCodec
    model: CaptionModel
    encoder: ImageEncoder


def load_caption_model(run_id: str, config: CaptioningConfig) -> CaptionRunModel:
    """Download and rebuild the trained captioner of ``run_id`` and its image encoder (tuned blocks included)."""
    codec = CaptionCodec.load(tracking.download(run_id, TOKENIZER_ARTIFACT))
    encoder = ImageEncoder(tap_block=config.model.tap_block)
    model = build_captioner(config.model, encoder.feature_dim, codec.vocab_size, codec.special)
    model = load_caption_weights(model, encoder, tracking.download(run_id, CHECKPOINT_ARTIFACT))
    return CaptionRunModel(config, codec, model, encoder)


def evaluate_caption_run(
    run_id: str, config: CaptioningConfig, split: str | None = None, search: SearchOverride = CONFIG_SEARCH
) -> CaptionEvaluation:
    """Re-caption a split (default: test) with the run's best checkpoint and log the figures to the run."""
    if split is not None and split not in CAPTION_SPLITS:
        raise UserError(f"unknown split {split!r} for captioning; choose one of: {', '.join(CAPTION_SPLITS)}")
    search.check()
    stored = load_caption_model(run_id, config)
    data = load_caption_data(config)
    name = split or "test"
    suffix = search.suffix(config)
    result = evaluate_captions(
        stored.model,
        stored.codec,
        {name: (data.splits[name], split_grids(config, data, name, stored.encoder))},
        data.photos,
        search.settings(config, stored.codec),
        config.tracking.heatmap_sentences,
        suffix=suffix,
    )
    result.metrics.update(nearest_neighbour_scores(data.photos, data.splits, name, config.model.tap_block))
    with tracking.resume_run(run_id):
        log_caption_evaluation(result)
    return result

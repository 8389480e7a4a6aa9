"""Captioning export stage: a run's best checkpoint → parity-checked ONNX graphs → an MLflow pyfunc model."""

from __future__ import annotations

import base64
import logging
import tempfile
from pathlib import Path

import pandas as pd

from pipelines import caption_pyfunc, tracking
from pipelines.bundle import Manifest, load_bundle, write_bundle
from pipelines.caption_evaluate import caption_photos
from pipelines.caption_metrics import caption_scores
from pipelines.caption_onnx import CaptionSessions, export_caption_graphs
from pipelines.caption_parity import check_caption_parity
from pipelines.caption_run import load_caption_model
from pipelines.captions import IMAGES_FOLDER, load_captions
from pipelines.config import CaptioningConfig
from pipelines.errors import UserError
from pipelines.export import EXPORT_TAG, MODEL_NAME, ExportResult, pip_requirements, record_parity
from pipelines.image_features import load_images
from pipelines.image_input import INPUT_SIZE
from pipelines.pyfunc_model import BUNDLE_ARTIFACT
from pipelines.translate import search_settings

log = logging.getLogger(__name__)

PARITY_PHOTOS = 50
"""Photos of the parity split whose greedy captions must be identical."""


def export_caption_run(run_id: str, config: CaptioningConfig, overwrite: bool = False) -> ExportResult:
    """Export ``run_id``'s captioner; fail (and log why) if ONNX Runtime disagrees with PyTorch."""
    previous = tracking.run_tags(run_id).get(EXPORT_TAG)
    if previous and not overwrite:
        raise UserError(f"run {run_id} already has an ONNX export ({previous}); pass --overwrite to replace it")
    stored = load_caption_model(run_id, config)
    codec = stored.codec
    folder = config.data.data_root() / config.data.dataset
    splits = load_captions(folder)
    split = config.export.parity_split
    if split not in splits:
        raise UserError(f"export.parity_split {split!r} is not one of {', '.join(splits)}")
    data = splits[split].head(PARITY_PHOTOS)
    photos = load_images([folder / IMAGES_FOLDER / name for name in data.images])  # (N, 3, 160, 160)

    bundle_folder = Path(tempfile.mkdtemp(prefix="attnops-export-")) / BUNDLE_ARTIFACT
    specs = export_caption_graphs(stored.encoder, stored.model, bundle_folder, config.export.opset)
    cpu_fp32 = config.runtime.model_copy(update={"precision": "fp32", "device": "cpu"})
    sessions = CaptionSessions.open(bundle_folder, specs, cpu_fp32)
    settings = search_settings(config, codec)
    parity = check_caption_parity(
        stored.encoder, stored.model, sessions, photos, settings, config.export.parity_tolerance
    )
    metrics = {
        "parity_max_rel_grid": parity.max_rel_grid,
        "parity_max_abs_logits": parity.max_abs_logits,
        "parity_max_abs_attention": parity.max_abs_attention,
        "parity_greedy_mismatches": float(parity.greedy_mismatches),
    }
    log.info("parity: max |Δlogits| %.2e, greedy mismatches %d/%d", parity.max_abs_logits, parity.greedy_mismatches,
             parity.greedy_sentences)  # fmt: skip
    record_parity(
        run_id,
        metrics,
        parity,
        f"max |Δlogits| {parity.max_abs_logits:.3g}, relative |Δgrid| {parity.max_rel_grid:.3g} (tolerance "
        f"{parity.tolerance:g}), greedy mismatches {parity.greedy_mismatches}/{parity.greedy_sentences} on {split}",
    )
    captions = caption_photos(sessions.image_encoder, sessions.decoder, codec, photos, settings)
    scores = caption_scores([c.text for c in captions], data.captions)
    metrics.update({f"onnx_fp32_{split}{len(data)}_{name}": value for name, value in scores.items()})

    manifest = Manifest(run_id=run_id, task=config.task, state_fields=specs.state_fields, precisions=("fp32",),
                        opset=config.export.opset, parity=parity, image_size=INPUT_SIZE)  # fmt: skip
    bundle = load_bundle(write_bundle(bundle_folder, config, codec, manifest))
    files = [folder / IMAGES_FOLDER / name for name in data.images[:2]]
    example = pd.DataFrame({"image": [base64.b64encode(path.read_bytes()).decode() for path in files]})
    output = caption_pyfunc.CaptionPyfunc.caption_frame(bundle, sessions, example, settings.beam_size)
    with tracking.resume_run(run_id):
        tracking.log_metrics(metrics)
        model_uri = tracking.log_pyfunc_model(
            MODEL_NAME, Path(caption_pyfunc.__file__), {BUNDLE_ARTIFACT: bundle_folder}, example, output,
            {"beam_size": settings.beam_size}, pip_requirements(),
        )  # fmt: skip
        tracking.set_tags({EXPORT_TAG: model_uri})
    return ExportResult(run_id, model_uri, bundle, metrics)

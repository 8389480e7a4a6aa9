"""Fine-tuning the encoder's top block: only that block learns, and the export carries the tuned encoder."""

from __future__ import annotations

import pytest
import torch

from attnops.models.image_encoder import ImageEncoder
from attnops.pipelines.captioning.model import load_caption_model
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.export import export_run
from attnops.pipelines.train import train

pytestmark = pytest.mark.slow

TINY = [
    "model.trainable_blocks=1",
    "model.embedding_dim=32",
    "model.hidden_size=48",
    "data.max_train_examples=24",
    "data.max_eval_examples=4",
    "data.min_word_frequency=1",
    "data.augment=hflip",
    "train.max_epochs=1",
    "train.batch_size=16",
    "train.optim.lr=0.01",
    "train.max_decode_length=8",
    "tracking.heatmap_sentences=1",
    "tracking.system_metrics=false",
    "export.parity_split=val",
]


def test_top_block_is_tuned_and_exported(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNOPS_CACHE_DIR", str(tmp_path / "cache"))
    config = load_config(REPO_ROOT / "pipelines/configs/captioning/flickr8k-soft.yaml", TINY)
    result = train(config)
    assert set(result.evaluation.metrics) >= {"test_bleu4", "test_cider"}
    tuned = load_caption_model(result.run_id, config).encoder.state_dict()
    pretrained = ImageEncoder().state_dict()
    last = len(ImageEncoder().net._blocks) - 1
    changed = {key for key in pretrained if not torch.equal(pretrained[key], tuned[key])}
    assert changed and all(key.startswith((f"net._blocks.{last}.", "net._conv_head", "net._bn1")) for key in changed)
    assert not any("running_mean" in key for key in changed)  # batch-norm statistics stay pretrained
    parity = export_run(result.run_id).bundle.manifest.parity
    assert parity.passed and parity.greedy_mismatches == 0

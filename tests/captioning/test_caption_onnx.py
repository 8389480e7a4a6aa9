"""Captioner export: image-encoder graph + decoder pair, parity with PyTorch on real photos, the shared search."""

from __future__ import annotations

import pytest
import torch

from attnops.models.captioning import Captioner, CaptionerConfig, grid_mask
from attnops.models.image_encoder import ImageEncoder
from attnops.models.search import SearchSettings, decode
from attnops.models.seq2seq import SpecialTokens
from attnops.pipelines.captioning.captions import load_captions
from attnops.pipelines.captioning.export import export_caption_graphs
from attnops.pipelines.captioning.graphs import IMAGE_GRAPH, CaptionSessions, OnnxImageEncoder
from attnops.pipelines.captioning.image_features import load_images
from attnops.pipelines.captioning.parity import check_caption_parity
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.translation.config import DataConfig

FLICKR = DataConfig().data_root() / "flickr8k_mini"
SPECIAL = SpecialTokens()
CPU = RuntimeConfig(device="cpu")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    encoder = ImageEncoder().eval()
    config = CaptionerConfig(embedding_dim=32, hidden_size=48, dropout=0.3)
    model = Captioner(config, encoder.feature_dim, 60, SPECIAL).eval()
    folder = tmp_path_factory.mktemp("caption-export")
    specs = export_caption_graphs(encoder, model, folder, opset=18)
    return encoder, model, folder, specs


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    names = load_captions(FLICKR)["test"].images[:6]
    return load_images([FLICKR / "images" / name for name in names])  # (6, 3, 160, 160)


def test_three_graphs_and_the_grid_pair(exported):
    _, _, folder, specs = exported
    assert sorted(p.name for p in folder.glob("*.onnx")) == ["decoder_step.onnx", "encoder.onnx", "image_encoder.onnx"]
    assert specs.state_fields == ("rnn", "memory", "keys", "memory_mask")
    assert IMAGE_GRAPH.inputs == ("images",)


def test_parity_on_real_photos_and_fresh_shapes(exported, photos):
    encoder, model, folder, specs = exported
    settings = SearchSettings(bos=SPECIAL.bos, eos=SPECIAL.eos, pad=SPECIAL.pad, max_length=12)
    parity = check_caption_parity(encoder, model, CaptionSessions.open(folder, specs, CPU), photos, settings, 1e-4)
    assert parity.passed, parity
    assert parity.max_abs_logits < 1e-4 and parity.max_rel_grid < 1e-4
    assert parity.greedy_sentences == 6 and parity.greedy_mismatches == 0


def test_onnx_image_encoder_takes_other_sizes_and_beam_search_runs_on_onnx(exported, photos):
    encoder, model, folder, specs = exported
    bigger = torch.nn.functional.interpolate(photos[:2], size=(224, 224), mode="bilinear", align_corners=False)
    with torch.no_grad():
        expected = encoder(bigger)  # (2, 49, 1280)
    grid = OnnxImageEncoder(folder, CPU)(bigger)
    assert grid.shape == (2, 49, 1280)
    torch.testing.assert_close(grid, expected, atol=1e-4, rtol=1e-4)
    settings = SearchSettings(bos=SPECIAL.bos, eos=SPECIAL.eos, pad=SPECIAL.pad, beam_size=3, max_length=8)
    onnx_beam = decode(OnnxBackend(folder, specs, CPU), grid, grid_mask(grid), settings)
    torch_beam = decode(model, expected, grid_mask(expected), settings)
    assert [h.tokens for h in onnx_beam] == [h.tokens for h in torch_beam]

"""The Transformer captioner: causal masking, its key/value cache, search, learning on real photos, config,
ONNX export with parity, and the CLI from training to a parity-checked export."""

from __future__ import annotations

import base64
import re
from dataclasses import replace

import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
import torch

from attnops.cli import main
from attnops.models.caption_module import CaptioningModule
from attnops.models.caption_transformer import CaptionTransformer, CaptionTransformerConfig, grid_positions
from attnops.models.captioning import grid_mask
from attnops.models.config import OptimConfig
from attnops.models.image_encoder import ImageEncoder
from attnops.models.search import SearchSettings, beam_search, greedy_search
from attnops.models.seq2seq import SpecialTokens
from attnops.pipelines.captioning.captions import load_captions
from attnops.pipelines.captioning.config import CaptioningConfig
from attnops.pipelines.captioning.export import export_caption_graphs
from attnops.pipelines.captioning.graphs import CaptionSessions
from attnops.pipelines.captioning.image_features import load_images
from attnops.pipelines.captioning.parity import check_caption_parity
from attnops.pipelines.config import REPO_ROOT, RuntimeConfig, load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.onnx_export import DUMMY_STEPS
from tests.captioning.helpers import FLICKR, real_photo_batch

CONFIG = str(REPO_ROOT / "pipelines/configs/captioning/flickr8k-transformer.yaml")
SPECIAL = SpecialTokens()
VOCAB, FEATURES = 30, 12
CPU = RuntimeConfig(intra_op_threads=1, device="cpu")


def tiny_config(**overrides) -> CaptionTransformerConfig:
    """Small enough for unit tests; dropout off so outputs are deterministic."""
    settings = dict(d_model=16, num_heads=2, decoder_layers=2, ff_size=32, region_layers=1, dropout=0.0)
    return CaptionTransformerConfig(**{**settings, **overrides})


def tiny_model(feature_dim: int = FEATURES, vocab_size: int = VOCAB, **overrides) -> CaptionTransformer:
    torch.manual_seed(0)
    return CaptionTransformer(tiny_config(**overrides), feature_dim, vocab_size, SPECIAL).eval()


def _grid(batch: int = 3, regions: int = 25, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, regions, FEATURES, generator=torch.Generator().manual_seed(seed))  # (B, S, C)


def _steps(model, grid: torch.Tensor, tokens: torch.Tensor):
    """Feed ``tokens (B, T)`` one step at a time: logits ``(B, T, V)``, attention ``(B, T, S)``, last state."""
    state, logits, weights = model.encode(grid, grid_mask(grid)), [], []
    for t in range(tokens.shape[1]):
        out = model.decode_step(tokens[:, t], state)
        state = out.state
        logits.append(out.logits)
        weights.append(out.attention)
    return torch.stack(logits, dim=1), torch.stack(weights, dim=1), state


def test_a_word_never_sees_later_words():
    model, grid = tiny_model(), _grid()
    tgt_in = torch.randint(4, VOCAB, (3, 9))
    with torch.no_grad():
        logits, _ = model(grid, grid_mask(grid), tgt_in)  # (B, T, V)
        changed = tgt_in.clone()
        changed[:, 4:] = torch.randint(4, VOCAB, changed[:, 4:].shape)
        changed_logits, _ = model(grid, grid_mask(grid), changed)
    torch.testing.assert_close(changed_logits[:, :4], logits[:, :4], atol=1e-6, rtol=0)
    assert not torch.allclose(changed_logits[:, 4:], logits[:, 4:])


@pytest.mark.parametrize(("region_layers", "attention_layer"), [(0, -1), (1, 0), (2, -1)])
def test_cached_steps_equal_full_redecoding(region_layers, attention_layer):
    model = tiny_model(region_layers=region_layers, attention_layer=attention_layer)
    grid, tgt_in = _grid(regions=49), torch.randint(4, VOCAB, (3, 11))
    with torch.no_grad():
        logits, weights = model(grid, grid_mask(grid), tgt_in)
        step_logits, step_weights, state = _steps(model, grid, tgt_in)
    assert (step_logits - logits).abs().max() <= 1e-5
    assert (step_weights - weights).abs().max() <= 1e-6
    assert state.past_keys.shape[:3] == (3, 11, 2)
    assert weights.shape == (3, 11, 49)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 11))


def test_beam_of_one_is_greedy_and_a_wider_beam_reorders_the_cache():
    model, grid = tiny_model(), _grid(batch=4)
    torch.nn.init.normal_(model.decoder.generator.bias, std=2.0)  # some words likelier: captions end at times
    settings = SearchSettings(bos=SPECIAL.bos, eos=SPECIAL.eos, pad=SPECIAL.pad, max_length=12, length_penalty=0)
    greedy = greedy_search(model, grid, grid_mask(grid), settings)
    beam = beam_search(model, grid, grid_mask(grid), settings)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    for g, b in zip(greedy, beam):
        assert b.score == pytest.approx(g.score, abs=1e-4)
        torch.testing.assert_close(b.attention, g.attention)
        assert g.attention.shape[1] == 25
        torch.testing.assert_close(g.attention.sum(-1), torch.ones(g.attention.shape[0]))
    # A beam's score is what full re-decoding of its words gives only if the cache follows the beams.
    wide = beam_search(model, grid, grid_mask(grid), replace(settings, beam_size=3))
    for row, hypothesis in enumerate(wide):
        if len(hypothesis.tokens) == settings.max_length:
            continue  # cut at max_length: no EOS in the score
        target = torch.tensor([[SPECIAL.bos, *hypothesis.tokens]])
        with torch.no_grad():
            logits, _ = model(grid[row : row + 1], grid_mask(grid[row : row + 1]), target)  # (1, T, V)
        words = torch.tensor([*hypothesis.tokens, SPECIAL.eos]).unsqueeze(1)  # (T, 1)
        assert hypothesis.score == pytest.approx(float(logits.log_softmax(-1)[0].gather(1, words).sum()), abs=1e-3)


def test_region_positions_follow_the_grid_and_a_too_large_grid_is_refused():
    rows, columns = grid_positions(torch.zeros(1, 9, 1))
    assert rows.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and columns.tolist() == [0, 1, 2] * 3
    model = tiny_model(max_grid_side=4)
    with torch.no_grad():
        state = model.encode(_grid(regions=16), grid_mask(_grid(regions=16)))
    assert state.keys.shape == (3, 16, 2, 16)  # (B, S, L, D)
    with pytest.raises(ValueError, match="max_grid_side=4"):
        model.encode(_grid(regions=25), grid_mask(_grid(regions=25)))


def test_loss_falls_on_a_small_batch_of_real_photos_without_the_attention_penalty():
    batch, codec = real_photo_batch()
    config = tiny_config(d_model=32, num_heads=4, ff_size=64)
    module = CaptioningModule(config, OptimConfig(label_smoothing=0.0), 1280, codec.vocab_size, SPECIAL)
    assert module.penalty_weight is None
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        cross_entropy, penalty = module.losses(batch)
        assert penalty is None
        optimizer.zero_grad()
        cross_entropy.backward()
        optimizer.step()
        losses.append(cross_entropy.item())
    assert losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"architecture": "lstm"}, "architecture='lstm' is not allowed; choose one of: soft_attention, transformer"),
        ({"architecture": "transformer", "doubly_stochastic": 1.0}, "doubly_stochastic"),
        ({"architecture": "transformer", "d_model": 30, "num_heads": 4}, "divisible by num_heads"),
        ({"architecture": "transformer", "region_layers": -1}, "region_layers=-1 must be >= 0"),
        ({"architecture": "transformer", "attention": "dot"}, "attention"),
    ],
)
def test_config_errors_name_the_key(model, message):
    with pytest.raises(ValueError, match=message):
        CaptioningConfig.model_validate({"model": model})


def test_a_config_file_error_names_model_architecture():
    with pytest.raises(UserError, match=r"model: architecture='rnn' is not allowed; choose one of: soft_attention, "):
        load_config(CONFIG, ["model.architecture=rnn"])


def test_a_model_section_without_architecture_stays_the_lstm():
    config = CaptioningConfig.model_validate({"model": {"attention": "dot", "doubly_stochastic": 0.5}})
    assert config.model.architecture == "soft_attention" and config.model.doubly_stochastic == 0.5
    transformer = CaptioningConfig.model_validate({"model": {"architecture": "transformer", "region_layers": 0}})
    assert isinstance(transformer.model, CaptionTransformerConfig) and transformer.model.region_layers == 0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    encoder = ImageEncoder().eval()
    model = tiny_model(feature_dim=encoder.feature_dim, vocab_size=60, dropout=0.3)  # eval mode: dropout off
    folder = tmp_path_factory.mktemp("caption-transformer-export")
    specs = export_caption_graphs(encoder, model, folder, opset=18)
    return encoder, model, CaptionSessions.open(folder, specs, CPU)


def test_onnx_cache_is_declared_with_a_dynamic_past_length(exported):
    _, _, sessions = exported
    spec = sessions.decoder.specs.decoder
    assert {"past_keys", "past_values"} <= set(spec.inputs)
    assert spec.dynamic_axes["past_keys"][1] != spec.dynamic_axes["next_past_keys"][1]


def test_onnx_parity_on_real_photos_and_past_lengths_other_than_the_export_dummy(exported):
    encoder, model, sessions = exported
    names = load_captions(FLICKR)["test"].images[:4]
    photos = load_images([FLICKR / "images" / name for name in names])  # (4, 3, 160, 160)
    settings = SearchSettings(bos=SPECIAL.bos, eos=SPECIAL.eos, pad=SPECIAL.pad, max_length=12)
    parity = check_caption_parity(encoder, model, sessions, photos, settings, 1e-4)
    assert parity.passed and parity.greedy_mismatches == 0, parity
    with torch.no_grad():
        grid = encoder(photos)  # (4, 25, 1280)
        tokens = torch.randint(4, 60, (4, 9), generator=torch.Generator().manual_seed(1))
        expected, expected_weights, _ = _steps(model, grid, tokens)
    actual, actual_weights, state = _steps(sessions.decoder, grid, tokens)
    assert state.past_keys.shape[1] == 9 > DUMMY_STEPS + 1
    assert (actual - expected).abs().max() <= 1e-4
    assert (actual_weights - expected_weights).abs().max() <= 1e-5


TINY = [
    "data.max_train_examples=40",
    "data.max_eval_examples=6",
    "data.min_word_frequency=2",
    "model.d_model=32",
    "model.num_heads=2",
    "model.decoder_layers=2",
    "model.ff_size=64",
    "train.max_epochs=1",
    "train.max_decode_length=10",
    "train.optim.warmup_steps=2",
    "tracking.heatmap_sentences=2",
    "tracking.system_metrics=false",
    "export.parity_split=val",
]


@pytest.mark.slow
def test_cli_trains_and_exports_the_transformer_with_parity(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNOPS_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["train", CONFIG, *(arg for item in TINY for arg in ("--set", item))])
    out, _ = capsys.readouterr()
    assert code == 0
    run_id = out.strip().splitlines()[-1]
    assert re.search(r"^test_cider: \d+\.\d+$", out, re.M)
    assert re.search(r"^test_attention_uniform: 0\.04", out, re.M)  # per-word maps over the 5x5 grid
    params = mlflow.get_run(run_id).data.params
    assert params["model.architecture"] == "transformer" and params["model.region_layers"] == "1"
    code = main(["export", run_id])
    out, _ = capsys.readouterr()
    assert code == 0 and "parity passed" in out and "photos" in out
    photo = FLICKR / "images" / load_captions(FLICKR)["test"].images[0]
    frame = pd.DataFrame({"image": [base64.b64encode(photo.read_bytes()).decode()]})
    predicted = mlflow.pyfunc.load_model(out.strip().splitlines()[-1]).predict(frame, params={"beam_size": 2})
    assert list(predicted.columns) == ["caption"] and len(predicted) == 1

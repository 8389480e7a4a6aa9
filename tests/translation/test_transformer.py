"""The Transformer translator: causal masking, its key/value cache, search and ONNX export, on real sentences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnops.models.search import beam_search, greedy_search
from attnops.models.transformer import Transformer
from attnops.pipelines.batching import pad_sources
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.onnx_export import DUMMY_STEPS, export_graphs
from attnops.pipelines.study.trial import parameter_count
from attnops.pipelines.translation.config import TranslationConfig
from attnops.pipelines.translation.parity import check_parity
from tests.conftest import tiny_transformer_config
from tests.translation.helpers import decode_settings, train_batch

CPU = RuntimeConfig(intra_op_threads=1, device="cpu")


def _model(codec, **overrides) -> Transformer:
    config = tiny_transformer_config(**overrides)
    return Transformer(config, codec.source.get_vocab_size(), codec.target.get_vocab_size(), codec.special)


def _beam(codec, size: int):
    """Beam search without a length penalty (scores are raw log-probabilities, as greedy's are)."""
    return decode_settings(codec, beam_size=size, max_length=15, length_penalty=0)


def _steps(model, tokens: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor, object]:
    """Feed ``tokens (B, T)`` one step at a time: logits ``(B, T, V)``, attention ``(B, T, S)``, last state."""
    logits, weights = [], []
    for t in range(tokens.shape[1]):
        out = model.decode_step(tokens[:, t], state)
        logits.append(out.logits)
        weights.append(out.attention)
        state = out.state
    return torch.stack(logits, dim=1), torch.stack(weights, dim=1), state


def test_a_position_never_sees_later_targets(codec, multi30k):
    model = _model(codec).eval()
    batch = train_batch(codec, multi30k)
    logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
    cut = 3
    changed = batch.tgt_in.clone()
    changed[:, cut:] = torch.randint(4, codec.target.get_vocab_size(), changed[:, cut:].shape)
    changed_logits, _ = model(batch.src, batch.src_mask, changed)
    torch.testing.assert_close(changed_logits[:, :cut], logits[:, :cut], atol=1e-6, rtol=0)
    assert not torch.allclose(changed_logits[:, cut:], logits[:, cut:])


@pytest.mark.parametrize("attention_layer", [-1, 0])
def test_cached_steps_equal_full_redecoding(codec, multi30k, attention_layer):
    model = _model(codec, attention_layer=attention_layer).eval()
    batch = train_batch(codec, multi30k, offset=40)
    logits, weights = model(batch.src, batch.src_mask, batch.tgt_in)  # teacher forcing: all positions at once
    step_logits, step_weights, state = _steps(model, batch.tgt_in, model.encode(batch.src, batch.src_mask))
    assert (step_logits - logits).abs().max() <= 1e-5
    assert (step_weights - weights).abs().max() <= 1e-6
    assert state.past_keys.shape[:3] == (batch.src.shape[0], batch.tgt_in.shape[1], 2)


def test_extra_source_padding_changes_nothing_and_gets_zero_weight(codec, multi30k):
    model = _model(codec).eval()
    batch = train_batch(codec, multi30k, offset=80)
    logits, weights = model(batch.src, batch.src_mask, batch.tgt_in)
    src = F.pad(batch.src, (0, 5), value=codec.special.pad)
    mask = F.pad(batch.src_mask, (0, 5), value=False)
    padded_logits, padded_weights = model(src, mask, batch.tgt_in)
    torch.testing.assert_close(padded_logits, logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(padded_weights[..., : batch.src.shape[1]], weights, atol=1e-6, rtol=1e-4)
    assert (padded_weights[~mask[:, None, :].expand_as(padded_weights)] == 0).all()
    torch.testing.assert_close(padded_weights.sum(-1), torch.ones(padded_weights.shape[:2]))


def test_beam_of_one_is_greedy_and_a_wider_beam_reorders_the_cache(codec, multi30k):
    model = _model(codec).eval()
    batch = train_batch(codec, multi30k, n=10, offset=120)
    greedy = greedy_search(model, batch.src, batch.src_mask, decode_settings(codec, max_length=15))
    beam = beam_search(model, batch.src, batch.src_mask, _beam(codec, 1))
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    for g, b in zip(greedy, beam):
        assert b.score == pytest.approx(g.score, abs=1e-4)
        torch.testing.assert_close(b.attention, g.attention)
    # Each beam's score must be what full re-decoding of its tokens gives: only true if the cache follows the beams.
    wide = beam_search(model, batch.src, batch.src_mask, _beam(codec, 3))
    for row, hypothesis in enumerate(wide):
        if len(hypothesis.tokens) == 15:
            continue  # cut at max_length: no EOS in the score
        target = torch.tensor([[codec.special.bos, *hypothesis.tokens]])
        logits, _ = model(batch.src[row : row + 1], batch.src_mask[row : row + 1], target)
        log_probs = logits.log_softmax(-1)[0]  # (T, V)
        expected = log_probs.gather(1, torch.tensor([*hypothesis.tokens, codec.special.eos]).unsqueeze(1)).sum()
        assert hypothesis.score == pytest.approx(float(expected), abs=1e-3)


def test_loss_falls_on_a_real_batch(codec, multi30k):
    model = _model(codec)
    batch = train_batch(codec, multi30k, n=16, offset=200)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
        return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=codec.special.pad)

    first = loss().item()
    for _ in range(25):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < 0.5 * first


def test_shared_embeddings_need_one_vocabulary(codec):
    with pytest.raises(ValueError, match="share_embeddings"):
        Transformer(tiny_transformer_config(share_embeddings=True), 100, 120, codec.special)
    shared = Transformer(tiny_transformer_config(share_embeddings=True), 100, 100, codec.special)
    assert shared.decoder.embedding is shared.encoder.embedding
    assert shared.decoder.generator.weight is shared.encoder.embedding.weight


def test_a_study_counts_tied_weights_once(codec, tmp_path):
    model = Transformer(tiny_transformer_config(share_embeddings=True, tie_output=True), 100, 100, codec.special)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "last.ckpt")
    assert parameter_count(tmp_path / "last.ckpt") == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"architecture": "lstm"}, "architecture='lstm' is not allowed; choose one of: rnn, transformer"),
        ({"architecture": "transformer", "d_model": 30, "num_heads": 4}, "divisible by num_heads"),
        ({"architecture": "transformer", "attention_layer": 3, "decoder_layers": 3}, r"attention_layer=3 must be in"),
        ({"architecture": "transformer", "attention": "dot"}, "attention"),
    ],
)
def test_config_errors_name_the_key(model, message):
    with pytest.raises(ValueError, match=message):
        TranslationConfig.model_validate({"model": model})


def test_model_section_without_architecture_stays_an_rnn():
    assert TranslationConfig.model_validate({"model": {"attention": "dot"}}).model.architecture == "rnn"


@pytest.fixture(scope="module")
def exported(codec, tmp_path_factory) -> tuple[Transformer, OnnxBackend]:
    torch.manual_seed(0)
    model = _model(codec).eval()
    folder = tmp_path_factory.mktemp("onnx")
    return model, OnnxBackend(folder, export_graphs(model, folder, opset=18), CPU)


def test_onnx_cache_is_declared_with_a_dynamic_past_length(exported):
    _, backend = exported
    spec = backend.specs.decoder
    assert {"past_keys", "past_values"} <= set(spec.inputs)
    assert spec.dynamic_axes["past_keys"][1] != spec.dynamic_axes["next_past_keys"][1]


def test_onnx_steps_match_at_past_lengths_other_than_the_export_dummy(exported, codec, multi30k):
    model, backend = exported
    sentences = multi30k["test_2016_flickr"].sources[:20]
    parity = check_parity(model, backend, codec, sentences, decode_settings(codec), 1e-4)
    assert parity.passed and parity.max_abs_attention <= 1e-5
    batch = train_batch(codec, multi30k, n=5, offset=300)
    expected, expected_weights, expected_state = _steps(model, batch.tgt_in, model.encode(batch.src, batch.src_mask))
    actual, actual_weights, actual_state = _steps(backend, batch.tgt_in, backend.encode(batch.src, batch.src_mask))
    assert actual_state.past_keys.shape[1] == batch.tgt_in.shape[1] > DUMMY_STEPS + 1
    assert (actual - expected).abs().max() <= 1e-4
    assert (actual_weights - expected_weights).abs().max() <= 1e-5


def test_same_beam_search_on_both_backends(exported, codec, multi30k):
    model, backend = exported
    src, mask = pad_sources(codec.encode_source(multi30k["test_2016_flickr"].sources[:8]), codec.special)
    settings = decode_settings(codec, beam_size=3, max_length=20)
    expected, actual = beam_search(model, src, mask, settings), beam_search(backend, src, mask, settings)
    assert [h.tokens for h in actual] == [h.tokens for h in expected]
    for e, a in zip(expected, actual):
        torch.testing.assert_close(a.attention, e.attention, atol=1e-5, rtol=1e-4)

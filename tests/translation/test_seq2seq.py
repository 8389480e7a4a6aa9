"""Encoder-decoder behaviour on real Multi30k sentences with tiny models."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from attnops.models.attention import ATTENTION_NAMES
from attnops.models.decoder import DECODERS
from attnops.models.search import SearchSettings, beam_search, greedy_search
from attnops.models.seq2seq import Seq2Seq, SpecialTokens
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.decoding import SearchOverride
from attnops.pipelines.translation.translate import translate
from tests.conftest import tiny_model_config
from tests.translation.helpers import decode_settings, train_batch

SPECIAL = SpecialTokens()

VARIANTS = [
    *[{"attention": a, "decoder": d} for a, d in itertools.product(ATTENTION_NAMES, DECODERS)],
    {"attention": "additive", "rnn_type": "lstm"},
    {"attention": "additive", "self_attention": "multihead"},
    {"attention": "general", "self_attention": "scaled_dot", "encoder_layers": 2},
]
IDS = ["-".join(str(v) for v in variant.values()) for variant in VARIANTS]


def _model(codec, **overrides) -> Seq2Seq:
    config = tiny_model_config(**overrides)
    return Seq2Seq(config, codec.source.get_vocab_size(), codec.target.get_vocab_size(), codec.special)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_extra_padding_does_not_change_outputs(variant, codec, multi30k):
    model = _model(codec, **variant).eval()
    batch = train_batch(codec, multi30k)
    logits, weights = model(batch.src, batch.src_mask, batch.tgt_in)
    extra = 7
    src = F.pad(batch.src, (0, extra), value=codec.special.pad)
    mask = F.pad(batch.src_mask, (0, extra), value=False)
    padded_logits, padded_weights = model(src, mask, batch.tgt_in)
    torch.testing.assert_close(padded_logits, logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(padded_weights[..., : batch.src.shape[1]], weights, atol=1e-6, rtol=1e-4)
    assert (padded_weights[..., batch.src.shape[1] :] == 0).all()


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_decoder_attention_is_a_distribution_over_real_tokens(variant, codec, multi30k):
    model = _model(codec, **variant).eval()
    batch = train_batch(codec, multi30k)
    _, weights = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))
    padding = ~batch.src_mask[:, None, :].expand_as(weights)
    assert (weights[padding] == 0).all()


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_gradients_reach_every_parameter(variant, codec, multi30k):
    model = _model(codec, **variant)
    batch = train_batch(codec, multi30k)
    logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
    F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=codec.special.pad).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_loss_falls_on_a_small_batch(variant, codec, multi30k):
    model = _model(codec, **variant)
    batch = train_batch(codec, multi30k, n=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)

    def loss() -> torch.Tensor:
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
        return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=codec.special.pad)

    first = loss().item()
    for _ in range(30):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < 0.5 * first


@pytest.mark.parametrize("variant", VARIANTS[:4], ids=IDS[:4])
def test_beam_of_one_is_greedy(variant, codec, multi30k):
    model = _model(codec, **variant).eval()
    batch = train_batch(codec, multi30k, n=12, offset=100)
    greedy = greedy_search(model, batch.src, batch.src_mask, decode_settings(codec, max_length=15))
    beam_settings = decode_settings(codec, beam_size=1, max_length=15, length_penalty=0.0)  # raw log-probs, like greedy
    beam = beam_search(model, batch.src, batch.src_mask, beam_settings)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    for g, b in zip(greedy, beam):
        assert b.score == pytest.approx(g.score, abs=1e-4)
        torch.testing.assert_close(b.attention, g.attention)


def test_beam_search_finds_at_least_the_greedy_score(codec, multi30k):
    """Without a length penalty a wider beam never ends with a worse sequence score than greedy."""
    model = _model(codec).eval()
    batch = train_batch(codec, multi30k, n=12, offset=200)
    greedy = greedy_search(model, batch.src, batch.src_mask, decode_settings(codec, max_length=12))
    beam = beam_search(
        model, batch.src, batch.src_mask, decode_settings(codec, beam_size=4, max_length=12, length_penalty=0.0)
    )
    for g, b in zip(greedy, beam):
        if len(g.tokens) < 12:  # greedy ended with EOS inside the limit
            assert b.score >= g.score - 1e-4


def test_search_returns_attention_rows_per_step_over_the_real_source(codec, multi30k):
    model = _model(codec).eval()
    batch = train_batch(codec, multi30k, n=5, offset=300)
    for search, beam_size in ((greedy_search, 1), (beam_search, 3)):
        settings = decode_settings(codec, beam_size=beam_size, max_length=10)
        hypotheses = search(model, batch.src, batch.src_mask, settings)
        for row, hypothesis in enumerate(hypotheses):
            steps, source_length = hypothesis.attention.shape
            assert source_length == int(batch.src_mask[row].sum())
            assert steps in (len(hypothesis.tokens), len(hypothesis.tokens) + 1)
            assert codec.special.pad not in hypothesis.tokens and codec.special.bos not in hypothesis.tokens


@pytest.mark.parametrize("max_length", [2, 40])
def test_translations_list_one_target_token_per_attention_row(codec, multi30k, max_length):
    """``</s>`` is listed only where the search emitted it, never after a cut at ``max_length``."""
    model = _model(codec).eval()
    sources = multi30k["train"].sources[:6]
    settings = decode_settings(codec, max_length=max_length)
    translations = translate(model, codec, sources, settings)
    for translation in translations:
        assert len(translation.target_tokens) == translation.attention.shape[0]
    if max_length == 2:  # an untrained model does not end within two steps
        assert any(t.target_tokens[-1] != "</s>" for t in translations)


def test_search_settings_reject_bad_values():
    with pytest.raises(ValueError, match="beam_size"):
        SearchSettings(bos=1, eos=2, pad=0, beam_size=0)


def test_search_override_names_what_differs_from_the_config_and_checks_ranges():
    config = load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml")
    beam, penalty = config.train.eval_beam_size, config.train.length_penalty
    assert SearchOverride().suffix(config) == SearchOverride(beam, penalty).suffix(config) == ""
    assert SearchOverride(beam + 1, penalty + 0.5).suffix(config) == f"_beam{beam + 1}_lp{penalty + 0.5:g}"
    assert SearchOverride(length_penalty=0.0).settings(config, SimpleNamespace(special=SPECIAL)).length_penalty == 0.0
    for bad in (SearchOverride(beam_size=17), SearchOverride(length_penalty=-1.0)):
        with pytest.raises(UserError, match="--beam-size|--length-penalty"):
            bad.check()


def test_written_out_gru_step_matches_torch_gru_cell():
    from attnops.models.decoder import RecurrentCell

    cell = RecurrentCell("gru", 5, 7)
    x, state = torch.randn(3, 5), torch.randn(3, 1, 7)
    torch.testing.assert_close(cell(x, state), cell.cell(x, state[:, 0]).unsqueeze(1))


def test_written_out_lstm_step_matches_torch_lstm_cell():
    from attnops.models.decoder import RecurrentCell

    cell = RecurrentCell("lstm", 5, 7)
    x, state = torch.randn(3, 5), torch.randn(3, 2, 7)
    h, c = cell.cell(x, (state[:, 0], state[:, 1]))
    torch.testing.assert_close(cell(x, state), torch.stack([h, c], dim=1))

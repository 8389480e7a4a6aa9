"""Pointer-generator behaviour on real AESLC emails with tiny models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnops.models.attention import ATTENTION_NAMES
from attnops.models.decoder import DECODERS
from attnops.models.pointer import PointerGenerator, coverage_loss, pointer_nll
from attnops.models.search import SearchSettings, beam_search, greedy_search
from attnops.pipelines.abstractive.batching import collate, encode_pairs
from attnops.pipelines.abstractive.codec import words
from attnops.pipelines.abstractive.summarize import summarize
from tests.conftest import tiny_model_config

VARIANTS = [{"attention": a, "decoder": d} for a in ATTENTION_NAMES for d in DECODERS]
IDS = [f"{v['attention']}-{v['decoder']}" for v in VARIANTS]


def _model(codec, **overrides) -> PointerGenerator:
    return PointerGenerator(tiny_model_config(**overrides), codec.size, codec.special)


def _batch(codec, data, n: int = 6):
    pairs = encode_pairs(codec, data.head(n), max_source_words=40, max_target_words=12)
    return collate(codec.special)(list(pairs))


def _settings(codec, **kwargs) -> SearchSettings:
    return SearchSettings(bos=codec.special.bos, eos=codec.special.eos, pad=codec.special.pad, **kwargs)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_mixture_is_a_distribution_over_the_extended_vocabulary(variant, word_codec, aeslc):
    model = _model(word_codec, **variant).eval()
    batch = _batch(word_codec, aeslc["train"])
    assert (batch.src >= word_codec.size).any(), "the batch should hold out-of-vocabulary source words"
    state = model.encode(batch.src, batch.src_mask)
    for t in range(batch.tgt_in.shape[1]):
        out = model.decode_step(batch.tgt_in[:, t], state)
        assert out.logits.shape == (batch.src.shape[0], word_codec.size + batch.src.shape[1])
        torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(batch.src.shape[0]), atol=1e-4, rtol=0)
        assert ((out.copy >= 0) & (out.copy <= 1)).all()  # 1 - p_gen
        state = out.state


def test_copied_out_of_vocabulary_word_comes_back_as_written(word_codec, aeslc):
    """With p_gen forced to ~0 the model can only copy; a source made of unknown words yields them verbatim."""
    unknown = [w for d in aeslc["test"].documents for w in words(d) if w.lower() not in word_codec.index]
    document = " ".join(dict.fromkeys(unknown[:8]))  # real rare words, e.g. names and file names
    model = _model(word_codec).eval()
    torch.nn.init.zeros_(model.decoder.switch.weight)
    torch.nn.init.constant_(model.decoder.switch.bias, -30.0)
    (summary,) = summarize(model, word_codec, [document], _settings(word_codec, max_length=4), max_source_words=40)
    assert summary.words and all(summary.copied)
    assert set(summary.words) <= set(document.split())  # case and spelling kept
    assert summary.text.split() == summary.words


def test_target_words_found_only_in_the_source_get_its_extended_id(word_codec):
    text = "Please sign the Grandecommunications contract, the Grandecommunications one"
    encoded = word_codec.encode_source(text, 20)
    assert "the" in word_codec.index and "Grandecommunications" in encoded.oovs and "the" not in encoded.oovs
    copy_id = word_codec.size + encoded.oovs.index("Grandecommunications")
    assert encoded.ids.count(copy_id) == 2  # one extended id per distinct word
    target = word_codec.encode_target("grandecommunications the Zyzzyva", encoded.oovs)
    assert target == [copy_id, word_codec.index["the"], word_codec.special.unk]
    assert word_codec.decode(target[:2], encoded.oovs) == "Grandecommunications the"


def test_coverage_loss_is_zero_without_overlap_and_grows_with_repetition():
    steps = 4
    disjoint = torch.eye(steps).unsqueeze(0)  # (1, T, S): each step on its own source word
    mask = torch.ones(1, steps, dtype=torch.bool)
    assert coverage_loss(disjoint, mask) == 0
    losses = []
    for repeats in range(1, steps + 1):
        weights = torch.eye(steps)
        weights[:repeats] = torch.eye(steps)[0]  # the first `repeats` steps all attend to word 0
        losses.append(float(coverage_loss(weights.unsqueeze(0), mask)))
    assert losses[0] == 0 and all(a < b for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize("variant", VARIANTS[:2], ids=IDS[:2])
def test_extra_padding_does_not_change_outputs(variant, word_codec, aeslc):
    model = _model(word_codec, **variant).eval()
    batch = _batch(word_codec, aeslc["train"])
    log_probs, weights = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V+S), (B, T, S)
    extra, length = 5, batch.src.shape[1]
    src = F.pad(batch.src, (0, extra), value=word_codec.special.pad)
    mask = F.pad(batch.src_mask, (0, extra), value=False)
    padded_log_probs, padded_weights = model(src, mask, batch.tgt_in)
    real = word_codec.size + length
    torch.testing.assert_close(padded_log_probs[..., :real], log_probs, atol=1e-5, rtol=1e-4)
    assert (padded_log_probs[..., real:].exp() < 1e-8).all()
    torch.testing.assert_close(padded_weights[..., :length], weights, atol=1e-6, rtol=1e-4)
    assert (padded_weights[..., length:] == 0).all()


def test_beam_of_one_is_greedy(word_codec, aeslc):
    model = _model(word_codec).eval()
    batch = _batch(word_codec, aeslc["test"], n=8)
    settings = _settings(word_codec, max_length=12, length_penalty=0.0, min_length=2)
    greedy = greedy_search(model, batch.src, batch.src_mask, settings)
    beam = beam_search(model, batch.src, batch.src_mask, settings)
    assert [h.tokens for h in greedy] == [h.tokens for h in beam]
    for g, b in zip(greedy, beam):
        torch.testing.assert_close(g.copy, b.copy)


def test_minimum_length_holds_back_the_end(word_codec, aeslc):
    model = _model(word_codec).eval()
    torch.nn.init.zeros_(model.decoder.generator.weight)
    with torch.no_grad():
        model.decoder.generator.bias.fill_(0.0)
        model.decoder.generator.bias[word_codec.special.eos] = 50.0  # EOS is by far the likeliest word
    batch = _batch(word_codec, aeslc["test"])
    for beam_size in (1, 3):
        settings = _settings(word_codec, max_length=10, min_length=3, beam_size=beam_size)
        search = greedy_search if beam_size == 1 else beam_search
        assert all(len(h.tokens) == 3 for h in search(model, batch.src, batch.src_mask, settings))


def test_loss_with_coverage_falls_on_a_small_batch(word_codec, aeslc):
    model = _model(word_codec)
    batch = _batch(word_codec, aeslc["train"], n=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        log_probs, weights = model(batch.src, batch.src_mask, batch.tgt_in)
        target_mask = batch.tgt_out != word_codec.special.pad
        loss = pointer_nll(log_probs, batch.tgt_out, word_codec.special.pad) + coverage_loss(weights, target_mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]

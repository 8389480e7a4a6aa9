"""The soft-attention captioner: attention over the grid, shapes, search, and learning on real photos."""

from __future__ import annotations

import pytest
import torch

from attnops.models.attention import ATTENTION_NAMES
from attnops.models.caption_module import CaptioningModule, attention_penalty
from attnops.models.captioning import Captioner, CaptionerConfig, grid_mask
from attnops.models.config import OptimConfig
from attnops.models.search import SearchSettings, beam_search, decode, greedy_search
from attnops.models.seq2seq import SpecialTokens
from tests.captioning.helpers import real_photo_batch

SPECIAL = SpecialTokens()
VOCAB, FEATURES = 30, 12


def tiny_captioner(attention: str = "additive", **overrides) -> Captioner:
    config = CaptionerConfig(attention=attention, embedding_dim=16, hidden_size=24, num_heads=2, dropout=0.0)
    for key, value in overrides.items():
        setattr(config, key, value)
    return Captioner(config, FEATURES, VOCAB, SPECIAL).eval()


def _grid(batch: int = 3, regions: int = 25) -> torch.Tensor:
    return torch.randn(batch, regions, FEATURES)  # (B, S, C)


@pytest.mark.parametrize("attention", ATTENTION_NAMES)
def test_attention_over_the_grid_sums_to_one_per_word(attention):
    model = tiny_captioner(attention)
    grid = _grid()
    tgt_in = torch.randint(4, VOCAB, (3, 7))
    with torch.no_grad():
        logits, weights = model(grid, grid_mask(grid), tgt_in)
    assert logits.shape == (3, 7, VOCAB) and weights.shape == (3, 7, 25)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 7))
    assert (weights > 0).all()  # an image masks nothing: every region gets some weight


def test_a_masked_region_gets_no_weight_and_changes_nothing():
    model = tiny_captioner()
    grid = _grid(batch=1)
    mask = grid_mask(grid).clone()
    mask[0, -5:] = False
    tokens = torch.tensor([SPECIAL.bos])
    with torch.no_grad():
        masked = model.decode_step(tokens, model.encode(grid, mask))
        grid[0, -5:] = 100.0  # whatever sits under the mask
        changed = model.decode_step(tokens, model.encode(grid, mask))
    assert (masked.attention[0, -5:] == 0).all()
    torch.testing.assert_close(masked.logits, changed.logits)


def test_grid_size_follows_the_tapped_block():
    model = tiny_captioner()
    for regions in (25, 100):
        state = model.encode(_grid(2, regions), grid_mask(_grid(2, regions)))
        assert state.memory.shape == (2, regions, 24) and state.rnn.shape == (2, 2, 24)


def test_shared_search_drives_the_captioner():
    model = tiny_captioner()
    grid = _grid()
    settings = SearchSettings(bos=SPECIAL.bos, eos=SPECIAL.eos, pad=SPECIAL.pad, max_length=6)
    greedy = greedy_search(model, grid, grid_mask(grid), settings)
    beam1 = beam_search(model, grid, grid_mask(grid), settings)
    beam3 = beam_search(model, grid, grid_mask(grid), SearchSettings(**{**settings.__dict__, "beam_size": 3}))
    assert [h.tokens for h in greedy] == [h.tokens for h in beam1]
    for hypothesis in greedy + beam3:
        assert hypothesis.attention.shape[1] == 25
        assert len(hypothesis.tokens) <= hypothesis.attention.shape[0] <= len(hypothesis.tokens) + 1
        torch.testing.assert_close(hypothesis.attention.sum(-1), torch.ones(hypothesis.attention.shape[0]))


def _ngrams(tokens: list[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_search_can_forbid_repeated_ngrams(beam_size):
    model = tiny_captioner()
    torch.nn.init.normal_(model.decoder.generator.bias, std=3.0)  # a few favourite words: it loops
    grid = _grid(batch=4)
    base = SearchSettings(bos=SPECIAL.bos, eos=SPECIAL.eos, pad=SPECIAL.pad, beam_size=beam_size, max_length=20)
    free = decode(model, grid, grid_mask(grid), base)
    blocked = decode(model, grid, grid_mask(grid), SearchSettings(**{**base.__dict__, "no_repeat_ngram": 2}))
    assert any(len(set(_ngrams(h.tokens, 2))) < len(_ngrams(h.tokens, 2)) for h in free)
    for hypothesis in blocked:
        bigrams = _ngrams(hypothesis.tokens, 2)
        assert len(set(bigrams)) == len(bigrams)
    with pytest.raises(ValueError, match="no_repeat_ngram"):
        SearchSettings(bos=1, eos=2, pad=0, no_repeat_ngram=-1)


def test_attention_penalty_is_zero_when_every_region_is_seen_once():
    weights = torch.eye(4).unsqueeze(0)  # (1, T=4, S=4): step t looks only at region t
    assert attention_penalty(weights, torch.ones(1, 4, dtype=torch.bool)) == 0
    assert attention_penalty(weights, torch.tensor([[True, True, False, False]])) == 0.5  # two regions unseen


def test_loss_falls_on_a_small_batch_of_real_photos():
    batch, codec = real_photo_batch()
    config = CaptionerConfig(embedding_dim=32, hidden_size=48, dropout=0.0)
    module = CaptioningModule(config, OptimConfig(lr=3e-3, label_smoothing=0.0), 1280, codec.vocab_size, SPECIAL)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        cross_entropy, penalty = module.losses(batch)
        loss = cross_entropy + penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(cross_entropy.item())
    assert losses[-1] < 0.3 * losses[0]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="attention"):
        CaptionerConfig(attention="nope")
    with pytest.raises(ValueError, match="dropout"):
        CaptionerConfig(dropout=0.95)

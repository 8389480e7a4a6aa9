"""Properties every registered attention variant must have."""

from __future__ import annotations

import pytest
import torch

from attnops.models.attention import ATTENTION_NAMES, build_attention, masked_softmax

B, TQ, TK, D = 3, 4, 6, 8


def _inputs(tk: int = TK) -> tuple[torch.Tensor, ...]:
    query, keys = torch.randn(B, TQ, D), torch.randn(B, tk, D)
    lengths = torch.tensor([tk, 3, 1])
    mask = torch.arange(tk)[None, :] < lengths[:, None]  # (B, Tk)
    return query, keys * mask.unsqueeze(-1), mask


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_weights_are_distributions_with_zero_on_padding(name):
    attention = build_attention(name, D, D, D, num_heads=2)
    query, keys, mask = _inputs()
    out = attention(query, keys, keys, mask)
    assert out.context.shape == (B, TQ, D)
    assert out.weights.shape == (B, TQ, TK)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, TQ))
    assert (out.weights.masked_select(~mask[:, None, :].expand_as(out.weights)) == 0).all()


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_extra_padding_changes_nothing(name):
    attention = build_attention(name, D, D, D, num_heads=2)
    query, keys, mask = _inputs()
    padded_keys = torch.cat([keys, torch.randn(B, 5, D)], dim=1)  # garbage in the padding
    padded_mask = torch.cat([mask, torch.zeros(B, 5, dtype=torch.bool)], dim=1)
    out = attention(query, keys, keys, mask)
    padded = attention(query, padded_keys, padded_keys, padded_mask)
    torch.testing.assert_close(padded.context, out.context)
    torch.testing.assert_close(padded.weights[..., :TK], out.weights)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_gradients_reach_every_parameter(name):
    attention = build_attention(name, D, D, D, num_heads=2)
    query, keys, mask = _inputs()
    query.requires_grad_(True)
    attention(query, keys, keys, mask).context.sum().backward()
    assert query.grad is not None and query.grad.abs().sum() > 0
    for param_name, param in attention.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


def test_attention_follows_the_scores():
    """A key equal to the query gets the largest dot-product weight."""
    attention = build_attention("dot", D, D, D)
    keys = torch.randn(1, 5, D)
    out = attention(keys[:, 2:3] * 10, keys, keys, torch.ones(1, 5, dtype=torch.bool))
    assert out.weights.argmax().item() == 2


def test_masked_softmax_broadcasts_over_heads():
    scores = torch.randn(2, 3, 4, 5)  # (B, heads, Tq, Tk)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    weights = masked_softmax(scores, mask)
    assert (weights[1, ..., 2:] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 4))


def test_unknown_attention_names_the_choices():
    with pytest.raises(ValueError, match="allowed: dot, general, additive, scaled_dot, multihead"):
        build_attention("cosine", D, D, D)


def test_dot_attention_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="query_dim == key_dim"):
        build_attention("dot", 8, 6, 6)

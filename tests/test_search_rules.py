"""Search rules on a scripted model whose next-token probabilities depend on the last token: when beam search
stops, and which tokens search never generates."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from attnops.models.decoder import DecoderState, StepOutput
from attnops.models.search import SearchSettings, beam_search, decode

PAD, BOS, EOS, A, DOG, CAT = range(6)
TINY = 1e-6
NEXT = {  # last token -> probability of each next token (the others get TINY)
    BOS: {A: 0.5, DOG: 0.49},
    A: {CAT: 0.7, EOS: 0.25},
    DOG: {EOS: 0.45},
    CAT: {EOS: 0.95},
}


def _log_probs(last: int) -> Tensor:
    """The rest of the probability goes to PAD, which search never emits."""
    probs = torch.full((6,), TINY)
    for token, p in NEXT.get(last, {}).items():
        probs[token] = p
    probs[PAD] = 1.0 - probs[1:].sum()
    return probs.log()


class ScriptedModel:
    """A decoding backend with one source position and no real state: the table above is the model."""

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState:
        batch = src.shape[0]
        return DecoderState(memory=torch.zeros(batch, 1, 1), keys=torch.zeros(batch, 1, 1), memory_mask=src_mask)

    def decode_step(self, tokens: Tensor, state: DecoderState) -> StepOutput:
        logits = torch.stack([_log_probs(int(t)) for t in tokens])  # (N, V)
        return StepOutput(logits, state, torch.ones(tokens.shape[0], 1))


def test_an_early_ending_does_not_stop_a_better_live_beam():
    """After one step the beams are "a" and "dog". Then "dog </s>" ends (log p -1.51) and "a </s>" (-2.08, third
    best) would end too, while "a cat" (-1.05) is still live and ends at -1.10: the search must wait for it."""
    settings = SearchSettings(bos=BOS, eos=EOS, pad=PAD, beam_size=2, max_length=6, length_penalty=0.0)
    (best,) = beam_search(ScriptedModel(), torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool), settings)
    assert best.tokens == [A, CAT]
    assert math.isclose(best.score, math.log(0.5 * 0.7 * 0.95), rel_tol=1e-4)
    assert best.attention.shape == (3, 1)  # a, cat and the </s> step


def test_a_sentence_that_cannot_end_returns_its_best_live_beam_at_the_length_limit():
    settings = SearchSettings(bos=BOS, eos=EOS, pad=PAD, beam_size=2, max_length=2, length_penalty=0.0)
    (best,) = beam_search(ScriptedModel(), torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool), settings)
    assert best.tokens == [A, CAT] and math.isclose(best.score, math.log(0.5 * 0.7), rel_tol=1e-4)


def test_the_unknown_word_is_never_generated():
    """Decoding drops the unknown word, so generating it would end a caption on "a": search never does."""
    for beam_size in (1, 2):
        settings = SearchSettings(bos=BOS, eos=EOS, pad=PAD, beam_size=beam_size, max_length=6, unk=CAT)
        (best,) = decode(ScriptedModel(), torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool), settings)
        assert CAT not in best.tokens and best.tokens

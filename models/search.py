"""Greedy and beam search, written once against :class:`DecodingBackend`.

Any backend with ``encode`` and ``decode_step`` works: the PyTorch model, or ONNX Runtime sessions
wrapped to take and return the same tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Protocol

import torch
from torch import Tensor

from attnops.models.decoder import DecoderState, StepOutput, map_state


class DecodingBackend(Protocol):
    """What search needs from a model."""

    def encode(self, src: Tensor, src_mask: Tensor) -> DecoderState: ...

    def decode_step(self, tokens: Tensor, state: DecoderState) -> StepOutput: ...


@dataclass
class Hypothesis:
    """One decoded sentence.

    Attributes:
        tokens: target ids without BOS and EOS.
        attention: weights ``(steps, S)``: a row per emitted token, plus the EOS step if one was emitted.
        score: total log-probability, divided by the length penalty (beam search).
        copy: the probability of copying ``(steps,)``, one per attention row, for backends that report it.
    """

    tokens: list[int]
    attention: Tensor
    score: float
    copy: Tensor | None = None


@dataclass(frozen=True)
class SearchSettings:
    """How to decode."""

    bos: int
    eos: int
    pad: int
    beam_size: int = 1
    max_length: int = 100
    length_penalty: float = 0.6
    """GNMT alpha: scores are divided by ((5 + length) / 6) ** alpha; 0 disables it."""
    no_repeat_ngram: int = 0
    """Never emit a token that would repeat an n-gram of this size already in the hypothesis; 0 disables it."""
    min_length: int = 0
    """EOS cannot end a hypothesis before it has this many tokens."""

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size={self.beam_size} must be >= 1")
        if self.max_length < 1:
            raise ValueError(f"max_length={self.max_length} must be >= 1")
        if self.no_repeat_ngram < 0:
            raise ValueError(f"no_repeat_ngram={self.no_repeat_ngram} must be >= 0")
        if not 0 <= self.min_length < self.max_length:
            raise ValueError(f"min_length={self.min_length} must be >= 0 and below max_length={self.max_length}")


def _next_token_log_probs(logits: Tensor, settings: SearchSettings, step: int) -> Tensor:
    """Log-probabilities ``(N, V)`` of the next token; PAD and BOS can never be generated, nor EOS before
    ``min_length`` tokens."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    log_probs[:, [settings.pad, settings.bos]] = float("-inf")
    if step < settings.min_length:
        log_probs[:, settings.eos] = float("-inf")
    return log_probs


def _block_repeats(log_probs: Tensor, histories: list[list[int]], n: int) -> None:
    """In place: -inf for each row's tokens that would complete an n-gram already in its history ``(N, V)``."""
    if n < 1:
        return
    for row, tokens in enumerate(histories):
        if len(tokens) < n:
            continue
        prefix = tokens[len(tokens) - n + 1 :]
        banned = [tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tokens[i : i + n - 1] == prefix]
        if banned:
            log_probs[row, banned] = float("-inf")


def _source_length(state: DecoderState, row: int) -> int:
    return int(state.memory_mask[row].sum())


@torch.no_grad()
def greedy_search(
    backend: DecodingBackend, src: Tensor, src_mask: Tensor, settings: SearchSettings
) -> list[Hypothesis]:
    """Pick the most likely token at each step for every sentence of ``src (B, S)``."""
    state = backend.encode(src, src_mask)
    batch, device = src.shape[0], state.memory_mask.device  # search runs where the backend keeps its state
    tokens = torch.full((batch,), settings.bos, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    emitted, weights, copies, scores = [], [], [], torch.zeros(batch, device=device)
    histories: list[list[int]] = [[] for _ in range(batch)]
    for step in range(settings.max_length):
        out = backend.decode_step(tokens, state)
        log_probs = _next_token_log_probs(out.logits, settings, step)  # (B, V)
        _block_repeats(log_probs, histories, settings.no_repeat_ngram)
        step_scores, tokens = log_probs.max(dim=-1)  # (B,), (B,)
        if settings.no_repeat_ngram:
            histories = [h + [t] for h, t in zip(histories, tokens.tolist())]
        scores += step_scores.masked_fill(finished, 0.0)
        emitted.append(tokens.masked_fill(finished, settings.eos))
        weights.append(out.attention)
        if out.copy is not None:
            copies.append(out.copy)
        finished |= tokens == settings.eos
        state = out.state
        if finished.all():
            break
    ids = torch.stack(emitted, dim=1).tolist()  # (B, T)
    attention = torch.stack(weights, dim=1)  # (B, T, S)
    copy = torch.stack(copies, dim=1) if copies else None  # (B, T)
    hypotheses = []
    for row, seq in enumerate(ids):
        length = seq.index(settings.eos) if settings.eos in seq else len(seq)
        steps = min(length + 1, len(seq))
        hypotheses.append(
            Hypothesis(
                tokens=seq[:length],
                attention=attention[row, :steps, : _source_length(state, row)].cpu(),
                score=float(scores[row]),
                copy=None if copy is None else copy[row, :steps].cpu(),
            )
        )
    return hypotheses


def _length_penalty(length: int, alpha: float) -> float:
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(backend: DecodingBackend, src: Tensor, src_mask: Tensor, settings: SearchSettings) -> list[Hypothesis]:
    """Beam search over every sentence of ``src (B, S)`` at once (B × K rows per step).

    A sentence stops once ``beam_size`` hypotheses have ended; with ``beam_size=1`` this is exactly
    greedy search.
    """
    k = settings.beam_size
    batch = src.shape[0]
    state = backend.encode(src, src_mask)
    device = state.memory_mask.device  # search runs where the backend keeps its state
    expand = torch.arange(batch, device=device).repeat_interleave(k)  # (B*K,)
    state = map_state(state, lambda t: t.index_select(0, expand))
    tokens = torch.full((batch * k,), settings.bos, dtype=torch.long, device=device)
    beam_scores = torch.zeros(batch, k, device=device)
    beam_scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first
    history = torch.empty(batch * k, 0, dtype=torch.long, device=device)  # (B*K, t)
    attention = torch.empty(batch * k, 0, src.shape[1], device=device)  # (B*K, t, S)
    copy: Tensor | None = None  # (B*K, t) for backends that report the copy probability
    done: list[list[Hypothesis]] = [[] for _ in range(batch)]

    def ended(row: int, score: float) -> Hypothesis:
        return Hypothesis(history[row].tolist(), attention[row].cpu(), score, None if copy is None else copy[row].cpu())

    for step in range(settings.max_length):
        out = backend.decode_step(tokens, state)
        attention = torch.cat([attention, out.attention.unsqueeze(1)], dim=1)  # (B*K, t+1, S)
        if out.copy is not None:
            previous = copy if copy is not None else out.copy.new_empty(out.copy.shape[0], 0)
            copy = torch.cat([previous, out.copy.unsqueeze(1)], dim=1)  # (B*K, t+1)
        vocab = out.logits.shape[-1]
        log_probs = _next_token_log_probs(out.logits, settings, step)  # (B*K, V)
        if settings.no_repeat_ngram:
            _block_repeats(log_probs, history.tolist(), settings.no_repeat_ngram)
        candidates = (beam_scores.view(-1, 1) + log_probs).view(batch, k * vocab)  # (B, K*V)
        top_scores, top_ids = candidates.topk(2 * k, dim=-1)  # (B, 2K)
        next_beams: list[tuple[int, int, float]] = []  # (row, token, score) for each next beam
        for b, (b_scores, b_ids) in enumerate(zip(top_scores.tolist(), top_ids.tolist())):
            beams = []
            for score, flat in zip(b_scores, b_ids):
                if len(done[b]) >= k or len(beams) == k or score == float("-inf"):
                    break
                row, token = b * k + flat // vocab, flat % vocab
                if token == settings.eos:
                    penalty = _length_penalty(step + 1, settings.length_penalty)
                    done[b].append(ended(row, score / penalty))
                else:
                    beams.append((row, token, score))
            # Finished sentences keep dead placeholder beams so every step has B*K rows.
            next_beams += beams + [(b * k, settings.eos, float("-inf"))] * (k - len(beams))
        if all(len(d) >= k for d in done):
            break
        rows = torch.tensor([r for r, _, _ in next_beams], device=device)
        tokens = torch.tensor([t for _, t, _ in next_beams], device=device)
        beam_scores = torch.tensor([s for _, _, s in next_beams], device=device).view(batch, k)
        history = torch.cat([history.index_select(0, rows), tokens.unsqueeze(1)], dim=1)
        attention = attention.index_select(0, rows)
        copy = None if copy is None else copy.index_select(0, rows)
        state = map_state(out.state, partial(torch.index_select, dim=0, index=rows))
    results = []
    for b in range(batch):
        if not done[b]:  # max_length reached before any beam ended: take the best live beam
            row = b * k + int(beam_scores[b].argmax())
            penalty = _length_penalty(history.shape[1], settings.length_penalty)
            done[b].append(ended(row, float(beam_scores[b].max()) / penalty))
        best = max(done[b], key=lambda h: h.score)
        source_length = _source_length(state, b * k)
        results.append(Hypothesis(best.tokens, best.attention[:, :source_length], best.score, best.copy))
    return results


def decode(backend: DecodingBackend, src: Tensor, src_mask: Tensor, settings: SearchSettings) -> list[Hypothesis]:
    """Greedy search for ``beam_size == 1``, beam search otherwise."""
    search = greedy_search if settings.beam_size == 1 else beam_search
    return search(backend, src, src_mask, settings)

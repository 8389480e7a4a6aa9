"""PyTorch vs ONNX Runtime: the same numbers on fresh shapes, the same greedy translations."""

from __future__ import annotations

from dataclasses import replace

import torch

from models.search import DecodingBackend, SearchSettings
from models.seq2seq import Seq2Seq
from pipelines.inference.bundle import Parity
from pipelines.onnx_export import dummy_source
from pipelines.translation.tokenizer import TextCodec
from pipelines.translation.translate import translate

FRESH_SHAPES = ((1, 3), (3, 11), (5, 23))
"""(batch, source length) pairs, all different from the export's dummy input (2, 7)."""
STEPS = 4


@torch.no_grad()
def _max_step_differences(model: Seq2Seq, backend: DecodingBackend) -> tuple[float, float]:
    """Largest |Δlogits| and |Δattention| over a few steps, each side following its own state."""
    vocab_in, vocab_out = model.encoder.embedding.num_embeddings, model.decoder.generator.out_features
    worst_logits = worst_attention = 0.0
    for seed, (batch, length) in enumerate(FRESH_SHAPES):
        src, mask = dummy_source(batch, length, vocab_in, seed=seed + 1)
        expected_state, actual_state = model.encode(src, mask), backend.encode(src, mask)
        tokens = torch.full((batch,), model.special.bos, dtype=torch.long)
        for step in range(STEPS):
            expected, actual = model.decode_step(tokens, expected_state), backend.decode_step(tokens, actual_state)
            worst_logits = max(worst_logits, float((expected.logits - actual.logits).abs().max()))
            worst_attention = max(worst_attention, float((expected.attention - actual.attention).abs().max()))
            expected_state, actual_state = expected.state, actual.state
            generator = torch.Generator().manual_seed(100 * seed + step)
            tokens = torch.randint(4, vocab_out, (batch,), generator=generator)
    return worst_logits, worst_attention


def check_parity(
    model: Seq2Seq,
    backend: DecodingBackend,
    codec: TextCodec,
    sentences: list[str],
    settings: SearchSettings,
    tolerance: float,
) -> Parity:
    """Compare ``backend`` with ``model``: step outputs on fresh shapes, greedy output on ``sentences``."""
    max_logits, max_attention = _max_step_differences(model.eval(), backend)
    greedy = replace(settings, beam_size=1)
    expected = translate(model, codec, sentences, greedy)
    actual = translate(backend, codec, sentences, greedy)
    mismatches = sum(e.target_tokens != a.target_tokens for e, a in zip(expected, actual))
    return Parity(
        max_abs_logits=max_logits,
        max_abs_attention=max_attention,
        tolerance=tolerance,
        greedy_sentences=len(sentences),
        greedy_mismatches=mismatches,
    )

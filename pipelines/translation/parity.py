"""PyTorch vs ONNX Runtime: the same numbers on fresh shapes, the same greedy translations."""

from __future__ import annotations

from dataclasses import replace

from models.search import DecodingBackend, SearchSettings
from models.seq2seq import Seq2Seq
from pipelines.decoder_parity import max_step_differences
from pipelines.inference.bundle import Parity
from pipelines.onnx_export import dummy_source
from pipelines.translation.tokenizer import TextCodec
from pipelines.translation.translate import translate

FRESH_SHAPES = ((1, 3), (3, 11), (5, 23))
"""(batch, source length) pairs, all different from the export's dummy input (2, 7)."""


def check_parity(
    model: Seq2Seq,
    backend: DecodingBackend,
    codec: TextCodec,
    sentences: list[str],
    settings: SearchSettings,
    tolerance: float,
) -> Parity:
    """Compare ``backend`` with ``model``: step outputs on fresh shapes, greedy output on ``sentences``."""
    model = model.eval()
    sources = [dummy_source(batch, length, model.encoder.embedding.num_embeddings, seed=seed + 1)
               for seed, (batch, length) in enumerate(FRESH_SHAPES)]  # fmt: skip
    vocab_size = model.decoder.generator.out_features
    max_logits, max_attention = max_step_differences(model, backend, sources, model.special.bos, vocab_size)
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

"""PyTorch vs ONNX Runtime: the same numbers on fresh shapes, the same greedy translations."""

from __future__ import annotations

from dataclasses import replace

from attnops.models.search import DecodingBackend, SearchSettings
from attnops.models.translators import Translator
from attnops.pipelines.decoder_parity import FRESH_SHAPES, compare_decoders
from attnops.pipelines.inference.bundle import Parity
from attnops.pipelines.onnx_export import dummy_source
from attnops.pipelines.translation.tokenizer import TextCodec
from attnops.pipelines.translation.translate import translate


def check_parity(
    model: Translator,
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
    greedy = replace(settings, beam_size=1)
    return compare_decoders(
        model, backend, sources, model.special.bos, model.decoder.generator.out_features, tolerance,
        lambda side: translate(side, codec, sentences, greedy), lambda e, a: e.target_tokens == a.target_tokens,
    )  # fmt: skip

"""Corpus BLEU with sacreBLEU (detokenized hypotheses against raw references)."""

from __future__ import annotations

import sacrebleu

from attnops.models.translation import TextMetric
from attnops.pipelines.translation.tokenizer import TextCodec


def bleu_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Cased and lowercased sacreBLEU (13a tokenization) of one reference per sentence."""
    return {
        "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
        "bleu_lc": sacrebleu.corpus_bleu(hypotheses, [references], lowercase=True).score,
    }


def bleu_metric(codec: TextCodec) -> TextMetric:
    """A :data:`TextMetric` for the Lightning module: decode target ids, then score BLEU."""

    def metric(hypotheses: list[list[int]], references: list[str]) -> dict[str, float]:
        return bleu_scores(codec.decode_target(hypotheses), references)

    return metric

"""Caption metrics against every reference of an image: BLEU-1..4 (sacreBLEU) and CIDEr-D.

Hypotheses and references are normalized captions (lowercase words separated by spaces), so both
metrics split on whitespace and no Java tokenizer is needed.
"""

from __future__ import annotations

import math
from collections import Counter

import sacrebleu

from attnops.models.caption_module import CaptionMetric
from attnops.pipelines.captioning.captions import CaptionCodec

CIDER_N = 4
CIDER_SIGMA = 6.0
"""Standard deviation (in words) of CIDEr-D's Gaussian penalty on the length difference."""


def bleu_scores(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (0-100), each reference set clipping the n-gram counts of its hypothesis."""
    width = max(len(refs) for refs in references)
    # sacreBLEU takes one stream per reference slot; repeating a reference changes no BLEU count.
    streams = [[refs[min(i, len(refs) - 1)] for refs in references] for i in range(width)]
    return {
        f"bleu{n}": sacrebleu.BLEU(max_ngram_order=n, tokenize="none", smooth_method="none")
        .corpus_score(hypotheses, streams)
        .score
        for n in range(1, 5)
    }


def _ngrams(words: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _tfidf(counts: Counter, document_frequency: Counter, log_documents: float) -> tuple[dict, float]:
    """Term counts weighted by ``log(N / df)``, and the vector's norm."""
    vector = {g: tf * (log_documents - math.log(max(1.0, document_frequency[g]))) for g, tf in counts.items()}
    return vector, math.sqrt(sum(v * v for v in vector.values()))


def cider_d(hypotheses: list[str], references: list[list[str]]) -> float:
    """CIDEr-D (Vedantam et al. 2015) of a corpus, as reported (×10).

    Per n-gram order n ≤ 4: tf-idf vectors with document frequencies over the corpus's reference sets,
    the hypothesis counts clipped by each reference's, cosine similarity times
    ``exp(−Δlength² / 2σ²)``, averaged over references; the orders are averaged, then the images.
    """
    hyp_words = [h.split() for h in hypotheses]
    ref_words = [[r.split() for r in refs] for refs in references]
    log_documents = math.log(float(len(references)))
    total = 0.0
    for n in range(1, CIDER_N + 1):
        ref_counts = [[_ngrams(r, n) for r in refs] for refs in ref_words]
        document_frequency = Counter(g for refs in ref_counts for g in set().union(*refs))
        for words, refs, counts in zip(hyp_words, ref_words, ref_counts):
            hyp_vector, hyp_norm = _tfidf(_ngrams(words, n), document_frequency, log_documents)
            for ref, ref_count in zip(refs, counts):
                ref_vector, ref_norm = _tfidf(ref_count, document_frequency, log_documents)
                overlap = sum(min(v, ref_vector.get(g, 0.0)) * ref_vector.get(g, 0.0) for g, v in hyp_vector.items())
                if hyp_norm and ref_norm:
                    penalty = math.exp(-((len(words) - len(ref)) ** 2) / (2 * CIDER_SIGMA**2))
                    total += penalty * overlap / (hyp_norm * ref_norm) / len(refs)
    return 10.0 * total / CIDER_N / len(hypotheses)


def caption_scores(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """BLEU-1..4 and CIDEr-D (``cider``) of normalized captions."""
    return {**bleu_scores(hypotheses, references), "cider": cider_d(hypotheses, references)}


def caption_metric(codec: CaptionCodec) -> CaptionMetric:
    """A :data:`CaptionMetric` for the Lightning module: decode word ids, then score."""

    def metric(hypotheses: list[list[int]], references: list[list[str]]) -> dict[str, float]:
        return caption_scores(codec.decode(hypotheses), references)

    return metric

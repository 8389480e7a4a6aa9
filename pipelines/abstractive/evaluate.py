"""Evaluate stage: test ROUGE beside the extractive baselines, copy figures, marked examples and heat-maps."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from attnops.models.search import DecodingBackend, SearchSettings
from attnops.pipelines import tracking
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.config import AbstractiveConfig
from attnops.pipelines.abstractive.data import SummarySplit, load_corpus
from attnops.pipelines.abstractive.metrics import lead_sentence, lead_words, oracle_sentence, rouge_both
from attnops.pipelines.abstractive.model import load_run_model
from attnops.pipelines.abstractive.settings import summary_settings
from attnops.pipelines.abstractive.summarize import Summary, summarize
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.decoding import CONFIG_SEARCH, SearchOverride
from attnops.pipelines.translation.heatmaps import plot_attention

log = logging.getLogger(__name__)

HEATMAP_SOURCE_WORDS = 60
"""Source words drawn in a heat-map (longer documents are cut there)."""


@dataclass
class SummaryEvaluation:
    """Metrics (``{split}_…``), marked examples and heat-map files."""

    metrics: dict[str, float]
    samples: list[str] = field(default_factory=list)
    heatmaps: list[Path] = field(default_factory=list)
    heatmap_location: str | None = None

    def metric_lines(self) -> list[str]:
        return [f"{name}: {value:.2f}" for name, value in sorted(self.metrics.items())]

    def sample_lines(self) -> list[str]:
        lines = list(self.samples)
        return lines + ([f"attention heat-map: {self.heatmap_location}"] if self.heatmap_location else [])


def marked(summary: Summary) -> str:
    """The summary with each word's copy probability; ⟦word⟧ marks a copied out-of-vocabulary word."""
    parts = []
    for i, word in enumerate(summary.words):
        shown = f"⟦{word}⟧" if summary.copied[i] else word
        parts.append(f"{shown}({float(summary.copy[i]):.2f})" if summary.copy is not None else shown)
    return " ".join(parts)


def baselines(data: SummarySplit, lead_n: int) -> dict[str, list[str]]:
    """The extractive baselines' summaries: lead sentence, lead N words, oracle sentence."""
    return {
        "lead1": [lead_sentence(s) for s in data.sentences],
        f"lead{lead_n}words": [lead_words(d, lead_n) for d in data.documents],
        "oracle": [oracle_sentence(s, refs) for s, refs in zip(data.sentences, data.references)],
    }


def evaluate_backend(
    backend: DecodingBackend,
    codec: WordCodec,
    config: AbstractiveConfig,
    splits: dict[str, SummarySplit],
    settings: SearchSettings,
    suffix: str = "",
) -> SummaryEvaluation:
    """Summarize each split and score it; baselines and the copy share beside it; examples of the first split."""
    evaluation = SummaryEvaluation({})
    folder = Path(tempfile.mkdtemp(prefix="attnops-heatmaps-"))
    for split, data in splits.items():
        summaries = summarize(backend, codec, data.documents, settings, config.data.max_source_words)
        scores = rouge_both([s.text for s in summaries], data.references)
        evaluation.metrics.update({f"{split}_{name}{suffix}": value for name, value in scores.items()})
        words = sum(len(s.copied) for s in summaries)
        evaluation.metrics[f"{split}_oov_copy_share{suffix}"] = sum(sum(s.copied) for s in summaries) / max(1, words)
        copy = [float(p) for s in summaries if s.copy is not None for p in s.copy[: len(s.words)]]
        evaluation.metrics[f"{split}_mean_copy_probability{suffix}"] = sum(copy) / max(1, len(copy))
        for name, texts in baselines(data, config.data.lead_words).items():
            for metric, value in rouge_both(texts, data.references).items():
                evaluation.metrics[f"{split}_{name}_{metric}"] = value
        log.info("%s: ROUGE-1/2/L %.2f/%.2f/%.2f", split, scores["rouge1"], scores["rouge2"], scores["rougeL"])
        if not evaluation.samples:
            shown = range(min(config.tracking.heatmap_sentences, len(summaries)))
            evaluation.samples = [
                f"DOC: {data.documents[i][:300]}\nREF: {data.summaries[i]}\nHYP: {summaries[i].text}\n"
                f"COPY: {marked(summaries[i])}"
                for i in shown
            ]
            evaluation.heatmaps = [_heatmap(summaries[i], folder / f"{split}_{i:03d}.png") for i in shown]
    return evaluation


def _heatmap(summary: Summary, path: Path) -> Path:
    steps = summary.attention.shape[0]
    target = summary.words + ["</s>"] * (steps - len(summary.words))
    columns = min(HEATMAP_SOURCE_WORDS, summary.attention.shape[1])
    return plot_attention(summary.attention[:, :columns], summary.source_words[:columns], target, path, summary.text)


def log_evaluation(result: SummaryEvaluation) -> None:
    tracking.log_metrics(result.metrics)
    for path in result.heatmaps:
        tracking.log_artifact(path, "attention")
    tracking.log_text("\n\n".join(result.samples), "samples/summaries.txt")


def evaluate_run(
    run_id: str, config: AbstractiveConfig, split: str | None = None, search: SearchOverride = CONFIG_SEARCH
) -> SummaryEvaluation:
    """Re-evaluate the best checkpoint of ``run_id`` and log the figures to that run."""
    if split is not None and split not in ("val", "test"):
        raise UserError(f"unknown split {split!r}; choose one of: val, test")
    search.check()
    stored = load_run_model(run_id, config)
    corpus = load_corpus(config.data)
    suffix = search.suffix(config)
    settings = summary_settings(config, stored.codec, search.beam_size, search.length_penalty)
    names = [split] if split else ["test"]
    result = evaluate_backend(stored.model, stored.codec, config, {n: corpus[n] for n in names}, settings, suffix)
    with tracking.resume_run(run_id):
        log_evaluation(result)
    if result.heatmaps:
        result.heatmap_location = tracking.artifact_location(run_id, f"attention/{result.heatmaps[0].name}")
    return result

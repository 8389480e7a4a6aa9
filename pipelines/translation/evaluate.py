"""Evaluate stage: BLEU on test splits and attention heat-maps, logged to the training run."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from attnops.models.search import DecodingBackend, SearchSettings
from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.decoding import CONFIG_SEARCH, SearchOverride
from attnops.pipelines.translation.config import TEST_SPLITS, TranslationConfig
from attnops.pipelines.translation.data import ParallelSplit, load_corpus
from attnops.pipelines.translation.heatmaps import plot_attention
from attnops.pipelines.translation.metrics import bleu_scores
from attnops.pipelines.translation.model import load_run_model
from attnops.pipelines.translation.tokenizer import TextCodec
from attnops.pipelines.translation.translate import Translation, translate

log = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """BLEU per split (``{split}_bleu``, ``{split}_bleu_lc``), sample translations, heat-map files."""

    metrics: dict[str, float]
    samples: list[Translation]
    heatmaps: list[Path]
    heatmap_location: str | None = None
    """Where the first heat-map was logged (set once it is)."""

    def metric_lines(self) -> list[str]:
        return [f"{name}: {value:.2f}" for name, value in sorted(self.metrics.items())]

    def sample_lines(self) -> list[str]:
        lines = [f"SRC: {sample.source}\nHYP: {sample.text}" for sample in self.samples]
        return lines + ([f"attention heat-map: {self.heatmap_location}"] if self.heatmap_location else [])


def evaluate_backend(
    backend: DecodingBackend,
    codec: TextCodec,
    splits: dict[str, ParallelSplit],
    settings: SearchSettings,
    heatmap_sentences: int,
    suffix: str = "",
) -> EvaluationResult:
    """Translate each split, score BLEU, and draw heat-maps for the first sentences of the first split."""
    metrics: dict[str, float] = {}
    samples: list[Translation] = []
    heatmaps: list[Path] = []
    folder = Path(tempfile.mkdtemp(prefix="attnops-heatmaps-"))
    for split, data in splits.items():
        translations = translate(backend, codec, data.sources, settings)
        scores = bleu_scores([t.text for t in translations], data.targets)
        metrics.update({f"{split}_{name}{suffix}": value for name, value in scores.items()})
        log.info("%s: BLEU %.2f (lowercased %.2f)", split, scores["bleu"], scores["bleu_lc"])
        if not samples:
            samples = translations[:heatmap_sentences]
            heatmaps = [
                plot_attention(
                    t.attention, t.source_tokens, t.target_tokens, folder / f"{split}_{i:03d}.png", title=t.text
                )
                for i, t in enumerate(samples)
            ]
    return EvaluationResult(metrics, samples, heatmaps)


def log_evaluation(result: EvaluationResult) -> None:
    tracking.log_metrics(result.metrics)
    for path in result.heatmaps:
        tracking.log_artifact(path, "attention")
    tracking.log_text(
        "\n\n".join(f"SRC: {t.source}\nHYP: {t.text}" for t in result.samples), "samples/translations.txt"
    )


def evaluate_run(
    run_id: str, config: TranslationConfig, split: str | None = None, search: SearchOverride = CONFIG_SEARCH
) -> EvaluationResult:
    """Re-evaluate the best checkpoint of ``run_id`` and log the figures to that run."""
    if split is not None and split not in TEST_SPLITS + ("val",):
        raise UserError(f"unknown split {split!r}; choose one of: val, {', '.join(TEST_SPLITS)}")
    search.check()
    stored = load_run_model(run_id, config)
    corpus = load_corpus(stored.config.data)
    if split is not None and split not in corpus:
        raise UserError(f"dataset {stored.config.data.dataset!r} has no split {split!r}")
    names = [split] if split else [s for s in TEST_SPLITS if s in corpus]
    settings = search.settings(stored.config, stored.codec)
    result = evaluate_backend(
        stored.model,
        stored.codec,
        {name: corpus[name] for name in names},
        settings,
        stored.config.tracking.heatmap_sentences,
        suffix=search.suffix(stored.config),
    )
    with tracking.resume_run(run_id):
        log_evaluation(result)
    if result.heatmaps:
        result.heatmap_location = tracking.artifact_location(run_id, f"attention/{result.heatmaps[0].name}")
    return result

"""Evaluate a hierarchical model on the test documents: accuracy/macro-F1 and a confusion matrix beside
TF-IDF baselines, or ROUGE beside the lead-3 and TextRank baselines; plus an attention page for the first
documents."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, classification_report, f1_score  # noqa: E402

from attnops.pipelines import tracking  # noqa: E402
from attnops.pipelines.documents.attention_html import write_attention_page  # noqa: E402
from attnops.pipelines.documents.classification_baselines import tfidf_baselines  # noqa: E402
from attnops.pipelines.documents.codec import DocumentCodec  # noqa: E402
from attnops.pipelines.documents.config import DocumentConfig  # noqa: E402
from attnops.pipelines.documents.data import Document, load_documents  # noqa: E402
from attnops.pipelines.documents.model import load_document_model  # noqa: E402
from attnops.pipelines.documents.predict import DocumentBackend, classify, predict_documents, summarize  # noqa: E402
from attnops.pipelines.documents.summary_baselines import lead, textrank  # noqa: E402
from attnops.pipelines.errors import UserError  # noqa: E402

log = logging.getLogger(__name__)

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@dataclass
class DocumentEvaluation:
    """Metrics (``{split}_…``), files to log (plots, the attention page, reports), and sample lines."""

    metrics: dict[str, float]
    artifacts: list[Path] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def metric_lines(self) -> list[str]:
        return [f"{name}: {value:.2f}" for name, value in sorted(self.metrics.items())]

    def sample_lines(self) -> list[str]:
        return ["\n".join(self.samples)]


def rouge(selections: list[list[str]], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F1 (×100, Porter stemming) of selected sentences against the references."""
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for selected, reference in zip(selections, references):
        scores = scorer.score(reference, " ".join(selected))
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    return {name: 100.0 * total / max(1, len(references)) for name, total in totals.items()}


def _confusion_matrix(truth: list[str], predicted: list[str], labels: list[str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 5))
    ConfusionMatrixDisplay.from_predictions(truth, predicted, labels=labels, ax=ax, cmap="Blues", colorbar=False)
    ax.set_title("test confusion matrix")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evaluate_documents(
    backend: DocumentBackend,
    codec: DocumentCodec,
    config: DocumentConfig,
    documents: list[Document],
    split: str,
    train: list[Document],
) -> DocumentEvaluation:
    """Score ``documents`` with ``backend`` (the PyTorch model or its ONNX graph), beside baselines on the
    same documents (for classification, TF-IDF classifiers fitted on ``train``)."""
    folder = Path(tempfile.mkdtemp(prefix="attnops-eval-"))
    encoded = codec.encode([d.sentences for d in documents])
    predictions = predict_documents(backend, encoded)
    shown = config.tracking.heatmap_sentences
    if config.task == "classification":
        predicted = [classify(p, codec) for p in predictions]
        truth, labels = [d.category for d in documents], [c.label for c in predicted]
        metrics = {
            f"{split}_accuracy": 100.0 * accuracy_score(truth, labels),
            f"{split}_macro_f1": 100.0 * f1_score(truth, labels, average="macro", zero_division=0),
            **tfidf_baselines(train, documents, split),
        }
        report = folder / f"{split}_classification_report.txt"
        report.write_text(classification_report(truth, labels, labels=codec.labels, digits=4, zero_division=0))
        artifacts = [report, _confusion_matrix(truth, labels, codec.labels, folder / f"{split}_confusion_matrix.png")]
        headings = [f"{d.id}: predicted {c.label} ({c.probabilities[c.label]:.2f}), true {d.category}"
                    for d, c in zip(documents, predicted)]  # fmt: skip
        chosen: list[set[int]] = [set() for _ in documents]
        samples = headings[:shown]
    else:
        budget = config.summary
        selected = [summarize(p, budget) for p in predictions]
        chosen = [{s.index for s in picked} for picked in selected]
        references = [d.summary for d in documents]
        kept = [e.sentences for e in encoded]
        systems = {
            "": [[s.text for s in picked] for picked in selected],
            "lead3_": [[s[i] for i in lead(s, 3)] for s in kept],
            "textrank_": [[s[i] for i in textrank(s, budget.max_sentences)] for s in kept],
        }
        metrics = {
            f"{split}_{system}{name}": value
            for system, selections in systems.items()
            for name, value in rouge(selections, references).items()
        }
        headings = [f"{d.id} ({d.category}): oracle sentences {[i for i, y in enumerate(d.labels) if y]}"
                    for d in documents]  # fmt: skip
        artifacts = []
        samples = [f"{d.id}: " + " ".join(s.text for s in picked) for d, picked in zip(documents[:shown], selected)]
    page = write_attention_page(
        predictions[:shown], headings[:shown], chosen[:shown], folder / f"{split}_attention.html",
        f"{config.task}: attention on the first {shown} {split} documents",
    )  # fmt: skip
    for name, value in sorted(metrics.items()):
        log.info("%s: %.2f", name, value)
    return DocumentEvaluation(metrics, [*artifacts, page], samples)


def log_document_evaluation(result: DocumentEvaluation) -> None:
    tracking.log_metrics(result.metrics)
    for path in result.artifacts:
        tracking.log_artifact(path, "evaluation")
    tracking.log_text("\n\n".join(result.samples), "samples/predictions.txt")


def evaluate_document_run(run_id: str, config: DocumentConfig, split: str | None = None) -> DocumentEvaluation:
    """Re-evaluate the best checkpoint of ``run_id`` on ``split`` and log the figures to that run."""
    split = split or "test"
    corpus = load_documents(config.data)
    if split not in corpus.splits:
        raise UserError(f"unknown split {split!r}; choose one of: {', '.join(corpus.splits)}")
    stored = load_document_model(run_id, config)
    result = evaluate_documents(stored.model, stored.codec, config, corpus.splits[split], split, corpus.splits["train"])
    with tracking.resume_run(run_id):
        log_document_evaluation(result)
    return result

"""Export stage: a run's best checkpoint → parity-checked ONNX graphs → an MLflow pyfunc model."""

from __future__ import annotations

import importlib.metadata
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines import pyfunc_model, tracking
from pipelines.bundle import Bundle, Manifest, Parity, load_bundle, write_bundle
from pipelines.data import load_corpus
from pipelines.errors import UserError
from pipelines.metrics import bleu_scores
from pipelines.onnx_backend import OnnxBackend
from pipelines.onnx_graphs import export_graphs, quantize_graphs
from pipelines.parity import check_parity
from pipelines.pyfunc_model import BUNDLE_ARTIFACT, TranslatorModel
from pipelines.run_model import load_run_model
from pipelines.translate import search_settings, translate

log = logging.getLogger(__name__)

EXPORT_TAG = "attnops.onnx_model"
"""Run tag holding the URI of the run's current ONNX export (an MLflow model)."""
PARITY_TAG = "attnops.parity"
MODEL_NAME = "onnx_model"
QUANTIZATIONS = ("int8",)
_REQUIREMENTS = ("mlflow", "onnxruntime", "tokenizers", "torch", "pandas", "pydantic", "pyyaml")


@dataclass
class ExportResult:
    run_id: str
    model_uri: str
    bundle: Bundle
    metrics: dict[str, float]


def pip_requirements() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in _REQUIREMENTS]


def record_parity(run_id: str, metrics: dict[str, float], parity: Parity, summary: str) -> None:
    """Log the parity figures and tag to the run, passed or not; raise with ``summary`` if it failed."""
    with tracking.resume_run(run_id):
        tracking.log_metrics(metrics)
        tracking.set_tags({PARITY_TAG: "passed" if parity.passed else "failed"})
    if not parity.passed:
        raise UserError(f"parity check failed for run {run_id}: {summary}; the run was not exported")


def export_run(run_id: str, quantize: str | None = None, overwrite: bool = False) -> ExportResult:
    """Export ``run_id``'s best checkpoint; fail (and log why) if ONNX Runtime disagrees with PyTorch."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {quantize!r}; allowed: {', '.join(QUANTIZATIONS)}")
    previous = tracking.run_tags(run_id).get(EXPORT_TAG)
    if previous and not overwrite:
        raise UserError(f"run {run_id} already has an ONNX export ({previous}); pass --overwrite to replace it")
    stored = load_run_model(run_id)
    config, codec = stored.config, stored.codec
    split = config.export.parity_split
    corpus = load_corpus(config.data)
    if split not in corpus:
        raise UserError(f"export.parity_split {split!r} is not a split of {config.data.dataset!r}")
    sentences = corpus[split].sources
    folder = Path(tempfile.mkdtemp(prefix="attnops-export-")) / BUNDLE_ARTIFACT
    specs = export_graphs(stored.model, folder, config.export.opset)
    cpu_fp32 = config.runtime.model_copy(update={"precision": "fp32", "device": "cpu"})
    settings = search_settings(config, codec)
    parity = check_parity(
        stored.model, OnnxBackend(folder, specs, cpu_fp32), codec, sentences, settings, config.export.parity_tolerance
    )
    metrics = {
        "parity_max_abs_logits": parity.max_abs_logits,
        "parity_max_abs_attention": parity.max_abs_attention,
        "parity_greedy_mismatches": float(parity.greedy_mismatches),
    }
    log.info("parity: max |Δlogits| %.2e, greedy mismatches %d/%d", parity.max_abs_logits, parity.greedy_mismatches,
             parity.greedy_sentences)  # fmt: skip
    record_parity(
        run_id,
        metrics,
        parity,
        f"max |Δlogits| {parity.max_abs_logits:.3g} (tolerance {parity.tolerance:g}), greedy mismatches "
        f"{parity.greedy_mismatches}/{parity.greedy_sentences} on {split}",
    )

    precisions = ("fp32",)
    if quantize:
        quantize_graphs(specs, folder)
        precisions += (quantize,)
        references = corpus[split].targets
        for precision in precisions:
            backend = OnnxBackend(folder, specs, cpu_fp32.model_copy(update={"precision": precision}))
            hypotheses = [t.text for t in translate(backend, codec, sentences, settings)]
            metrics[f"onnx_{precision}_{split}_bleu"] = bleu_scores(hypotheses, references)["bleu"]
        metrics[f"{quantize}_bleu_drop"] = metrics[f"onnx_fp32_{split}_bleu"] - metrics[f"onnx_{quantize}_{split}_bleu"]
    manifest = Manifest(
        run_id=run_id,
        task=config.task,
        state_fields=specs.state_fields,
        precisions=precisions,
        opset=config.export.opset,
        parity=parity,
    )
    bundle = load_bundle(write_bundle(folder, config, codec, manifest))
    example = pd.DataFrame({"text": sentences[:2]})
    output = TranslatorModel.translate_frame(bundle, bundle.backend(cpu_fp32), example, settings.beam_size)
    with tracking.resume_run(run_id):
        tracking.log_metrics(metrics)
        model_uri = tracking.log_pyfunc_model(
            MODEL_NAME,
            Path(pyfunc_model.__file__),
            {BUNDLE_ARTIFACT: folder},
            example,
            output,
            {"beam_size": settings.beam_size},
            pip_requirements(),
        )
        tracking.set_tags({EXPORT_TAG: model_uri})
    return ExportResult(run_id, model_uri, bundle, metrics)

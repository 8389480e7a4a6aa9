"""Export stage of the hierarchical models: one parity-checked ONNX graph → an MLflow pyfunc model."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd
import torch

from pipelines import pyfunc_documents, tracking
from pipelines.bundle import Manifest, Parity, load_bundle, write_bundle
from pipelines.config import DocumentConfig
from pipelines.document_codec import DocumentCodec
from pipelines.document_data import load_documents
from pipelines.document_predict import DocumentBackend, classify, predict_documents, summarize
from pipelines.errors import UserError
from pipelines.export import EXPORT_TAG, MODEL_NAME, ExportResult, pip_requirements, record_parity
from pipelines.onnx_documents import OnnxDocumentBackend, dummy_documents, export_document_graph
from pipelines.pyfunc_model import BUNDLE_ARTIFACT
from pipelines.run_model import load_document_model

log = logging.getLogger(__name__)

FRESH_DOCUMENTS = ([[3]], [[7, 1, 9, 2], [4], [2, 2, 2, 2, 2, 2]], [[12, 12, 12]] * 5)
"""Sentence lengths of documents with shapes other than the export's dummy input (2, 3, 5)."""


@torch.no_grad()
def _max_differences(model: DocumentBackend, backend: DocumentBackend, vocab_size: int) -> tuple[float, float]:
    """Largest |Δscores| and |Δweights| (word and sentence) on fresh shapes."""
    worst_scores = worst_weights = 0.0
    for seed, lengths in enumerate(FRESH_DOCUMENTS):
        ids, mask = dummy_documents([list(doc) for doc in lengths], vocab_size, seed=seed + 1)
        expected, actual = model(ids, mask), backend(ids, mask)
        worst_scores = max(worst_scores, float((expected.scores - actual.scores).abs().max()))
        for name in ("word_weights", "sentence_weights"):
            gap = (getattr(expected, name) - getattr(actual, name)).abs().max()
            worst_weights = max(worst_weights, float(gap))
    return worst_scores, worst_weights


def _decisions(backend: DocumentBackend, codec: DocumentCodec, config: DocumentConfig, documents: list[list[str]]):
    """What a user sees: the label, or the selected sentences, of each document."""
    predictions = predict_documents(backend, codec.encode(documents))
    if config.task == "classification":
        return [classify(p, codec).label for p in predictions]
    return [[s.index for s in summarize(p, config.summary)] for p in predictions]


def export_document_run(run_id: str, config: DocumentConfig, overwrite: bool = False) -> ExportResult:
    """Export ``run_id``'s hierarchical model; fail (and log why) if ONNX Runtime disagrees with PyTorch."""
    previous = tracking.run_tags(run_id).get(EXPORT_TAG)
    if previous and not overwrite:
        raise UserError(f"run {run_id} already has an ONNX export ({previous}); pass --overwrite to replace it")
    stored = load_document_model(run_id, config)
    split = config.export.parity_split
    corpus = load_documents(config.data)
    if split not in corpus.splits:
        raise UserError(f"export.parity_split {split!r} is not one of {', '.join(corpus.splits)}")
    documents = [d.sentences for d in corpus.splits[split]]
    folder = Path(tempfile.mkdtemp(prefix="attnops-export-")) / BUNDLE_ARTIFACT
    export_document_graph(stored.model, folder, config.export.opset)
    cpu_fp32 = config.runtime.model_copy(update={"precision": "fp32", "device": "cpu"})
    backend = OnnxDocumentBackend(folder, cpu_fp32)
    max_scores, max_weights = _max_differences(stored.model, backend, stored.codec.vocab_size)
    expected = _decisions(stored.model, stored.codec, config, documents)
    actual = _decisions(backend, stored.codec, config, documents)
    parity = Parity(
        max_abs_logits=max_scores,
        max_abs_attention=max_weights,
        tolerance=config.export.parity_tolerance,
        greedy_sentences=len(documents),
        greedy_mismatches=sum(e != a for e, a in zip(expected, actual)),
    )
    metrics = {
        "parity_max_abs_logits": parity.max_abs_logits,
        "parity_max_abs_attention": parity.max_abs_attention,
        "parity_prediction_mismatches": float(parity.greedy_mismatches),
    }
    record_parity(
        run_id,
        metrics,
        parity,
        f"max |Δscores| {parity.max_abs_logits:.3g} (tolerance {parity.tolerance:g}), "
        f"{parity.greedy_mismatches}/{parity.greedy_sentences} {split} documents predicted differently",
    )
    manifest = Manifest(run_id=run_id, task=config.task, state_fields=(), precisions=("fp32",),
                        opset=config.export.opset, parity=parity)  # fmt: skip
    bundle = load_bundle(write_bundle(folder, config, stored.codec, manifest))
    example = pd.DataFrame({"text": ["\n\n".join(d.sentences) for d in corpus.splits[split][:2]]})
    output = pyfunc_documents.DocumentPyfunc.predict_frame(bundle, bundle.backend(cpu_fp32), example)
    with tracking.resume_run(run_id):
        model_uri = tracking.log_pyfunc_model(
            MODEL_NAME, Path(pyfunc_documents.__file__), {BUNDLE_ARTIFACT: folder}, example, output, {},
            pip_requirements(),
        )  # fmt: skip
        tracking.set_tags({EXPORT_TAG: model_uri})
    return ExportResult(run_id, model_uri, bundle, metrics)

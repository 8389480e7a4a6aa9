"""What the translation export adds to the shared steps: the decoder pair, its parity check, INT8 and BLEU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.decoder_parity import decoder_parity_check
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.inference.graphs import graph_specs
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.onnx_export import export_graphs, quantize_graphs
from attnops.pipelines.task import Graphs, ParityCheck
from attnops.pipelines.translation.config import TranslationConfig
from attnops.pipelines.translation.data import ParallelSplit, load_corpus
from attnops.pipelines.translation.metrics import bleu_scores
from attnops.pipelines.translation.model import RunModel, load_run_model
from attnops.pipelines.translation.parity import check_parity
from attnops.pipelines.translation.translate import translate


@dataclass
class TrainedTranslator(RunModel):
    """The run's model with the parity split it is checked on."""

    parity_data: ParallelSplit


def load_trained(run_id: str, config: TranslationConfig) -> TrainedTranslator:
    stored = load_run_model(run_id, config)
    split = config.export.parity_split
    corpus = load_corpus(config.data)
    if split not in corpus:
        raise UserError(f"export.parity_split {split!r} is not a split of {config.data.dataset!r}")
    return TrainedTranslator(stored.config, stored.codec, stored.model, corpus[split])


def write_graphs(trained: TrainedTranslator, folder: Path, opset: int) -> Graphs:
    return Graphs(state_fields=export_graphs(trained.model, folder, opset).state_fields)


def parity_check(trained: TrainedTranslator, folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> ParityCheck:
    config, sentences = trained.config, trained.parity_data.sources
    backend = OnnxBackend(folder, graph_specs(graphs.state_fields), runtime)
    parity = check_parity(
        trained.model, backend, trained.codec, sentences, search_settings(config, trained.codec),
        config.export.parity_tolerance,
    )  # fmt: skip
    return decoder_parity_check(parity, config.export.parity_split, "sentences")


def quantized_figures(
    trained: TrainedTranslator, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
) -> tuple[tuple[str, ...], dict[str, float]]:
    """With ``quantize``: write the INT8 graphs and score both precisions (BLEU on the parity split)."""
    if not quantize:
        return ("fp32",), {}
    specs = graph_specs(graphs.state_fields)
    quantize_graphs(specs, folder)
    precisions = ("fp32", quantize)
    split, data = trained.config.export.parity_split, trained.parity_data
    settings = search_settings(trained.config, trained.codec)
    metrics = {}
    for precision in precisions:
        backend = OnnxBackend(folder, specs, runtime.model_copy(update={"precision": precision}))
        hypotheses = [t.text for t in translate(backend, trained.codec, data.sources, settings)]
        metrics[f"onnx_{precision}_{split}_bleu"] = bleu_scores(hypotheses, data.targets)["bleu"]
    metrics[f"{quantize}_bleu_drop"] = metrics[f"onnx_fp32_{split}_bleu"] - metrics[f"onnx_{quantize}_{split}_bleu"]
    metrics[f"{quantize}_drop"] = metrics[f"{quantize}_bleu_drop"]  # what the INT8 gate reads
    return precisions, metrics


def example_input(trained: TrainedTranslator) -> pd.DataFrame:
    return pd.DataFrame({"text": trained.parity_data.sources[:2]})

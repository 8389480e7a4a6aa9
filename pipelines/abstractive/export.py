"""What the summarization export adds to the shared steps: the decoder pair, its parity check, INT8 and ROUGE."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from attnops.models.pointer import PointerGenerator
from attnops.models.search import DecodingBackend, SearchSettings
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.config import AbstractiveConfig
from attnops.pipelines.abstractive.data import SummarySplit, load_corpus
from attnops.pipelines.abstractive.metrics import rouge
from attnops.pipelines.abstractive.model import RunModel, load_run_model
from attnops.pipelines.abstractive.settings import summary_settings
from attnops.pipelines.abstractive.summarize import summarize
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.decoder_parity import FRESH_SHAPES, compare_decoders, decoder_parity_check
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.bundle import Parity
from attnops.pipelines.inference.graphs import graph_specs
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.onnx_export import dummy_source, export_graphs, quantize_graphs
from attnops.pipelines.task import Graphs, ParityCheck

"""(batch, source length) pairs, all different from the export's dummy input (2, 7)."""


@dataclass
class TrainedSummarizer(RunModel):
    """The run's model with the split it is checked on."""

    parity_data: SummarySplit


def load_trained(run_id: str, config: AbstractiveConfig) -> TrainedSummarizer:
    stored = load_run_model(run_id, config)
    corpus = load_corpus(config.data)
    split = config.export.parity_split
    if split not in corpus:
        raise UserError(f"export.parity_split {split!r} is not a split of {config.data.dataset!r}; use val or test")
    return TrainedSummarizer(stored.config, stored.codec, stored.model, corpus[split])


def write_graphs(trained: TrainedSummarizer, folder: Path, opset: int) -> Graphs:
    return Graphs(state_fields=export_graphs(trained.model, folder, opset).state_fields)


def check_parity(
    model: PointerGenerator,
    backend: DecodingBackend,
    codec: WordCodec,
    documents: list[str],
    settings: SearchSettings,
    max_source_words: int,
    tolerance: float,
) -> Parity:
    """Step outputs on fresh shapes (with out-of-vocabulary source ids), greedy summaries of ``documents``."""
    model = model.eval()
    # Ids up to V + S - 1: some sources hold extended (copy-only) ids.
    sources = [dummy_source(batch, length, codec.size + length, seed=seed + 1)
               for seed, (batch, length) in enumerate(FRESH_SHAPES)]  # fmt: skip
    greedy = replace(settings, beam_size=1)
    return compare_decoders(
        model, backend, sources, codec.special.bos, codec.size + 2, tolerance,
        lambda side: summarize(side, codec, documents, greedy, max_source_words), lambda e, a: e.words == a.words,
    )  # fmt: skip


def parity_check(trained: TrainedSummarizer, folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> ParityCheck:
    config = trained.config
    backend = OnnxBackend(folder, graph_specs(graphs.state_fields), runtime)
    parity = check_parity(
        trained.model, backend, trained.codec, trained.parity_data.documents, summary_settings(config, trained.codec),
        config.data.max_source_words, config.export.parity_tolerance,
    )  # fmt: skip
    return decoder_parity_check(parity, config.export.parity_split, "documents", logits="log p")


def quantized_figures(
    trained: TrainedSummarizer, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
) -> tuple[tuple[str, ...], dict[str, float]]:
    """With ``quantize``: write the INT8 graphs and score both precisions (ROUGE-L on the parity split)."""
    if not quantize:
        return ("fp32",), {}
    specs = graph_specs(graphs.state_fields)
    quantize_graphs(specs, folder)
    config, data = trained.config, trained.parity_data
    settings = summary_settings(config, trained.codec)
    split, metrics = config.export.parity_split, {}
    for precision in ("fp32", quantize):
        backend = OnnxBackend(folder, specs, runtime.model_copy(update={"precision": precision}))
        summaries = summarize(backend, trained.codec, data.documents, settings, config.data.max_source_words)
        texts = [s.text for s in summaries]
        metrics[f"onnx_{precision}_{split}_rougeL"] = rouge(texts, [r[:1] for r in data.references])["rougeL"]
    drop = metrics[f"onnx_fp32_{split}_rougeL"] - metrics[f"onnx_{quantize}_{split}_rougeL"]
    metrics[f"{quantize}_rougeL_drop"] = drop
    metrics[f"{quantize}_drop"] = drop  # what the INT8 gate reads
    return ("fp32", quantize), metrics


def example_input(trained: TrainedSummarizer) -> pd.DataFrame:
    return pd.DataFrame({"text": trained.parity_data.documents[:2]})

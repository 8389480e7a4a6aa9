"""``attnops bench decode``: milliseconds per sentence for PyTorch eager, ONNX Runtime fp32 and INT8.

Every backend runs the same search (:mod:`attnops.models.search`) on the same sentences, so the figures
compare the model runtimes, not two decode loops.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from attnops.models.decoder import DecoderState, StepOutput
from attnops.models.search import DecodingBackend, SearchSettings
from attnops.pipelines.inference.bundle import Bundle
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.onnx_export import quantize_graphs
from attnops.pipelines.translation.data import load_corpus
from attnops.pipelines.translation.metrics import bleu_scores
from attnops.pipelines.translation.model import load_run_model
from attnops.pipelines.translation.tokenizer import TextCodec
from attnops.pipelines.translation.translate import Translation, translate

BACKENDS = ("eager", "ort-fp32", "ort-int8")
SEARCHES = {"greedy": 1, "beam4": 4}
SPEED_UPS = (
    ("ort-fp32", "eager", "greedy", 1),
    ("ort-fp32", "eager", "greedy", 32),
    ("ort-int8", "ort-fp32", "greedy", 1),
    ("ort-int8", "ort-fp32", "greedy", 32),
)
"""(faster backend, baseline, search, batch size): the speed-ups the report spells out."""


@dataclass
class DecodeBench:
    sentences: int
    threads: int
    ms: dict[tuple[str, str, int], float]
    """(backend, search, batch size) → milliseconds per sentence."""
    bleu: dict[str, float]
    """Backend → BLEU of its beam-4 output on the benchmark sentences."""
    device: str = "cpu"


def _int8_folder(bundle: Bundle) -> Path:
    """The bundle's folder if it has INT8 graphs, else a temporary copy quantized now."""
    if "int8" in bundle.manifest.precisions:
        return bundle.folder
    folder = Path(tempfile.mkdtemp(prefix="attnops-bench-")) / "bundle"
    shutil.copytree(bundle.folder, folder)
    quantize_graphs(bundle.specs, folder)
    return folder


class _EagerOn:
    """The PyTorch model on ``device``, taking its inputs from the CPU like the ONNX Runtime backends."""

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        self.model, self.device = model.to(device), torch.device(device)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> DecoderState:
        return self.model.encode(src.to(self.device), src_mask.to(self.device))

    def decode_step(self, tokens: torch.Tensor, state: DecoderState) -> StepOutput:
        return self.model.decode_step(tokens, state)


def _backends(
    bundle: Bundle, threads: int, names: tuple[str, ...] = BACKENDS, device: str = "cpu"
) -> dict[str, DecodingBackend]:
    """The backends ``names`` picks, opened on ``device`` (INT8 graphs are quantized only when asked for)."""
    runtime = bundle.config.runtime.model_copy(update={"intra_op_threads": threads, "device": device})
    opened: dict[str, DecodingBackend] = {}
    for name in names:
        if name == "eager":
            opened[name] = _EagerOn(load_run_model(bundle.manifest.run_id, bundle.config).model, device)
        else:
            precision = name.removeprefix("ort-")
            folder = _int8_folder(bundle) if precision == "int8" else bundle.folder
            opened[name] = OnnxBackend(folder, bundle.specs, runtime.model_copy(update={"precision": precision}))
    return opened


def ms_per_sentence(
    backend: DecodingBackend, codec: TextCodec, sources: list[str], settings: SearchSettings, batch_size: int
) -> tuple[float, list[Translation]]:
    """Milliseconds per sentence to translate ``sources`` in batches of ``batch_size``, and the translations."""
    start = time.perf_counter()
    output = translate(backend, codec, sources, settings, batch_size=batch_size)
    return (time.perf_counter() - start) * 1000 / len(sources), output


def eager_vs_onnx(
    bundle: Bundle, sentences: int, threads: int, batch_sizes: tuple[int, ...] = (1, 32)
) -> dict[str, float]:
    """Greedy milliseconds per sentence, PyTorch eager and ONNX Runtime fp32, on the first ``sentences`` of the
    parity split: ``decode_ms_{eager,onnx}_b{batch}`` (the figures ``attnops study`` reports)."""
    torch.set_num_threads(threads)
    sources = load_corpus(bundle.config.data)[bundle.config.export.parity_split].sources[:sentences]
    settings = search_settings(bundle.config, bundle.codec, 1)
    figures = {}
    for name, backend in _backends(bundle, threads, ("eager", "ort-fp32")).items():
        translate(backend, bundle.codec, sources[:8], settings, batch_size=8)  # warm-up
        label = "eager" if name == "eager" else "onnx"
        for batch_size in batch_sizes:
            figures[f"decode_ms_{label}_b{batch_size}"] = ms_per_sentence(
                backend, bundle.codec, sources, settings, batch_size
            )[0]
    return figures


def bench_decode(
    bundle: Bundle, sentences: int, batch_sizes: tuple[int, ...], threads: int, device: str = "cpu"
) -> DecodeBench:
    """Time every backend × search × batch size on the first ``sentences`` of test_2016_flickr, on ``device``
    (cpu or cuda: the eager model, and ONNX Runtime's CUDA provider, whose INT8 graphs run their quantized
    operators on the CPU)."""
    torch.set_num_threads(threads)
    split = load_corpus(bundle.config.data)[bundle.config.export.parity_split]
    sources, references = split.sources[:sentences], split.targets[:sentences]
    backends = _backends(bundle, threads, device=device)
    ms: dict[tuple[str, str, int], float] = {}
    bleu: dict[str, float] = {}
    progress = tqdm(total=len(backends) * len(SEARCHES) * len(batch_sizes), desc="bench decode", unit="config")
    for name, backend in backends.items():
        for search, beam in SEARCHES.items():
            settings = search_settings(bundle.config, bundle.codec, beam)
            translate(backend, bundle.codec, sources[:8], settings, batch_size=8)  # warm-up
            for batch_size in batch_sizes:
                progress.set_postfix_str(f"{name} {search} batch {batch_size}")
                ms[name, search, batch_size], output = ms_per_sentence(
                    backend, bundle.codec, sources, settings, batch_size
                )
                progress.update()
            if beam == 4:
                bleu[name] = bleu_scores([t.text for t in output], references)["bleu"]
    progress.close()
    return DecodeBench(len(sources), threads, ms, bleu, device)


def format_report(result: DecodeBench, batch_sizes: tuple[int, ...]) -> str:
    lines = [
        f"{result.sentences} test_2016_flickr sentences on {result.device}, {result.threads} threads; "
        "milliseconds per sentence",
        f"{'search':<7} {'batch':>5} {' '.join(f'{b:>9}' for b in BACKENDS)} {'fp32/eager':>11} {'int8/fp32':>10}",
    ]
    for search in SEARCHES:
        for batch in batch_sizes:
            eager, fp32, int8 = (result.ms[b, search, batch] for b in BACKENDS)
            timings = f"{eager:>9.2f} {fp32:>9.2f} {int8:>9.2f}"
            lines.append(f"{search:<7} {batch:>5} {timings} {eager / fp32:>10.2f}x {fp32 / int8:>9.2f}x")
    lines.append("BLEU (beam 4, these sentences): " + ", ".join(f"{b} {v:.2f}" for b, v in result.bleu.items()))
    for fast, base, search, batch in SPEED_UPS:
        if (fast, search, batch) in result.ms:
            got = result.ms[base, search, batch] / result.ms[fast, search, batch]
            lines.append(f"{fast} vs {base}, {search} batch {batch}: {got:.2f}x")
    lines.append(f"int8 BLEU drop: {result.bleu['ort-fp32'] - result.bleu['ort-int8']:.2f}")
    return "\n".join(lines)

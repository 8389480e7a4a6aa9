"""Decoding speed of a translation export: PyTorch eager and ONNX Runtime (fp32, INT8) behind one search.

The study's speed probe (:func:`eager_vs_onnx`) and ``attnops bench decode`` time the same backends.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import torch

from attnops.models.decoder import DecoderState, StepOutput
from attnops.models.search import DecodingBackend, SearchSettings
from attnops.pipelines.inference.bundle import Bundle
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.onnx_export import quantize_graphs
from attnops.pipelines.translation.data import load_corpus
from attnops.pipelines.translation.model import load_run_model
from attnops.pipelines.translation.tokenizer import TextCodec
from attnops.pipelines.translation.translate import Translation, translate

BACKENDS = ("eager", "ort-fp32", "ort-int8")


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


def open_backends(
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
    for name, backend in open_backends(bundle, threads, ("eager", "ort-fp32")).items():
        translate(backend, bundle.codec, sources[:8], settings, batch_size=8)  # warm-up
        label = "eager" if name == "eager" else "onnx"
        for batch_size in batch_sizes:
            figures[f"decode_ms_{label}_b{batch_size}"] = ms_per_sentence(
                backend, bundle.codec, sources, settings, batch_size
            )[0]
    return figures

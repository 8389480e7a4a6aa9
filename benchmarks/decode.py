"""``attnops bench decode``: milliseconds per sentence for PyTorch eager, ONNX Runtime fp32 and INT8.

Every backend runs the same search (:mod:`attnops.models.search`) on the same sentences, so the figures
compare the model runtimes, not two decode loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from attnops.pipelines.inference.bundle import Bundle
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.translation.data import load_corpus
from attnops.pipelines.translation.metrics import bleu_scores
from attnops.pipelines.translation.speed import BACKENDS, ms_per_sentence, open_backends
from attnops.pipelines.translation.translate import translate

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


def bench_decode(
    bundle: Bundle, sentences: int, batch_sizes: tuple[int, ...], threads: int, device: str = "cpu"
) -> DecodeBench:
    """Time every backend × search × batch size on the first ``sentences`` of test_2016_flickr, on ``device``
    (cpu or cuda: the eager model, and ONNX Runtime's CUDA provider, whose INT8 graphs run their quantized
    operators on the CPU)."""
    torch.set_num_threads(threads)
    split = load_corpus(bundle.config.data)[bundle.config.export.parity_split]
    sources, references = split.sources[:sentences], split.targets[:sentences]
    backends = open_backends(bundle, threads, device=device)
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

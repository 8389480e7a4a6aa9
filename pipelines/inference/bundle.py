"""The exported model as one folder: ONNX graphs, tokenizer, resolved config and a manifest.

This folder is what ``attnops export`` logs (inside an MLflow pyfunc model), what the registry
versions point to, and what the predict commands, the benchmarks and the service load. It depends on
no module path: the manifest and config name the task, whose registry entry opens codec and graphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from attnops.pipelines.config import ExperimentConfig, RuntimeConfig, load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.checksums import TamperedBundle, digests, verify
from attnops.pipelines.inference.graphs import GraphSpecs, graph_specs
from attnops.pipelines.tasks import task_named

MANIFEST, CONFIG, TOKENIZER = "manifest.json", "config.yaml", "tokenizer"


class Parity(BaseModel):
    """The PyTorch-vs-ONNX Runtime check made at export time.

    For a translation model the predictions compared are greedy translations of sentences, and the
    attention is the decoder's; for a hierarchical model they are labels or selected sentences of
    documents, and the attention is the word and sentence weights; for a captioner they are greedy
    captions of photos, and ``max_rel_grid`` checks the image-encoder graph too.
    """

    max_abs_logits: float
    max_abs_attention: float
    tolerance: float
    greedy_sentences: int
    greedy_mismatches: int
    max_rel_grid: float | None = None
    """Captioning: largest |Δ| of the image encoder's grid, relative to the grid's largest magnitude."""

    @property
    def passed(self) -> bool:
        grid_ok = self.max_rel_grid is None or self.max_rel_grid <= self.tolerance
        return self.max_abs_logits <= self.tolerance and self.greedy_mismatches == 0 and grid_ok


class Manifest(BaseModel):
    run_id: str
    task: str
    state_fields: tuple[str, ...]
    precisions: tuple[str, ...]
    opset: int
    parity: Parity
    image_size: int | None = None
    """Captioning: side of the square photos the model takes; uploads are resized to it."""
    files: dict[str, str] = {}
    """SHA-256 of every other file in the bundle, by path relative to it; checked on every load (a manifest
    without any, as exports made before checksums were recorded have, is refused)."""


@dataclass
class Bundle:
    folder: Path
    config: ExperimentConfig
    codec: Any
    """The task's codec (tokenizer, vocabulary, labels), as the task's ``load_codec`` opens it."""
    manifest: Manifest

    @property
    def specs(self) -> GraphSpecs:
        return graph_specs(self.manifest.state_fields)

    def backend(self, runtime: RuntimeConfig | None = None) -> Any:
        """ONNX Runtime sessions with ``runtime`` settings (default: the exported config's)."""
        runtime = runtime or self.config.runtime
        if runtime.precision not in self.manifest.precisions:
            raise UserError(
                f"this export has no {runtime.precision} graphs (has: {', '.join(self.manifest.precisions)}); "
                "re-export with --quantize int8 --overwrite"
            )
        return task_named(self.config.task).open_backend(self.folder, self.manifest, runtime)


def write_bundle(folder: Path, config: ExperimentConfig, codec: Any, manifest: Manifest) -> Path:
    """Add config, tokenizer and manifest (with every file's digest) to ``folder``, which holds the graphs."""
    (folder / CONFIG).write_text(config.to_yaml())
    codec.save(folder / TOKENIZER)
    manifest = manifest.model_copy(update={"files": digests(folder, exclude=(MANIFEST,))})
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return folder


def load_bundle(folder: Path) -> Bundle:
    """Open a bundle after checking every file against its manifest's digests (raises ``TamperedBundle``)."""
    if not (folder / MANIFEST).is_file():
        raise UserError(f"{folder} is not an attnops ONNX export (no {MANIFEST})")
    try:
        manifest = Manifest.model_validate_json((folder / MANIFEST).read_text())
    except ValueError as exc:
        raise UserError(f"{folder / MANIFEST} is not a valid manifest: {exc}") from exc
    if not manifest.files:
        raise TamperedBundle(
            f"{folder / MANIFEST} records no checksums, so nothing in it can be verified; refusing to load it "
            "(re-export its run with --overwrite and register it again)"
        )
    verify(folder, manifest.files, exclude=(MANIFEST,))
    config = load_config(folder / CONFIG)
    return Bundle(folder, config, task_named(config.task).load_codec(folder / TOKENIZER), manifest)

"""The exported model as one folder: ONNX graphs, tokenizer, resolved config and a manifest.

This folder is what ``attnops export`` logs (inside an MLflow pyfunc model), what the registry
versions point to, and what ``attnops translate``, the benchmark and the service load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from pipelines.caption_onnx import CaptionSessions
from pipelines.captions import CaptionCodec
from pipelines.config import (
    CaptioningConfig,
    DocumentConfig,
    ExperimentConfig,
    RuntimeConfig,
    TranslationConfig,
    load_config,
)
from pipelines.document_codec import DocumentCodec
from pipelines.errors import UserError
from pipelines.onnx_backend import OnnxBackend
from pipelines.onnx_documents import OnnxDocumentBackend
from pipelines.onnx_graphs import GraphSpecs, graph_specs
from pipelines.tokenizer import TextCodec

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


@dataclass
class Bundle:
    folder: Path
    config: ExperimentConfig
    codec: TextCodec | DocumentCodec | CaptionCodec
    manifest: Manifest

    @property
    def specs(self) -> GraphSpecs:
        return graph_specs(self.manifest.state_fields)

    def backend(self, runtime: RuntimeConfig | None = None) -> OnnxBackend | OnnxDocumentBackend | CaptionSessions:
        """ONNX Runtime sessions with ``runtime`` settings (default: the exported config's)."""
        runtime = runtime or self.config.runtime
        if runtime.precision not in self.manifest.precisions:
            raise UserError(
                f"this export has no {runtime.precision} graphs (has: {', '.join(self.manifest.precisions)}); "
                "re-export with --quantize int8 --overwrite"
            )
        if isinstance(self.config, DocumentConfig):
            return OnnxDocumentBackend(self.folder, runtime)
        if isinstance(self.config, CaptioningConfig):
            return CaptionSessions.open(self.folder, self.specs, runtime)
        return OnnxBackend(self.folder, self.specs, runtime)


def write_bundle(
    folder: Path, config: ExperimentConfig, codec: TextCodec | DocumentCodec | CaptionCodec, manifest: Manifest
) -> Path:
    """Add config, tokenizer and manifest to ``folder``, which already holds the graphs."""
    (folder / CONFIG).write_text(config.to_yaml())
    codec.save(folder / TOKENIZER)
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return folder


def load_bundle(folder: Path) -> Bundle:
    if not (folder / MANIFEST).is_file():
        raise UserError(f"{folder} is not an attnops ONNX export (no {MANIFEST})")
    manifest = Manifest.model_validate_json((folder / MANIFEST).read_text())
    config = load_config(folder / CONFIG)
    codecs = {TranslationConfig: TextCodec, DocumentConfig: DocumentCodec, CaptioningConfig: CaptionCodec}
    return Bundle(folder, config, codecs[type(config)].load(folder / TOKENIZER), manifest)

"""The exported model as one folder: ONNX graphs, tokenizer, resolved config and a manifest.

This folder is what ``attnops export`` logs (inside an MLflow pyfunc model), what the registry
versions point to, and what ``attnops translate``, the benchmark and the service load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from pipelines.config import DocumentConfig, ExperimentConfig, RuntimeConfig, TranslationConfig, load_config
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
    documents, and the attention is the word and sentence weights.
    """

    max_abs_logits: float
    max_abs_attention: float
    tolerance: float
    greedy_sentences: int
    greedy_mismatches: int

    @property
    def passed(self) -> bool:
        return self.max_abs_logits <= self.tolerance and self.greedy_mismatches == 0


class Manifest(BaseModel):
    run_id: str
    task: str
    state_fields: tuple[str, ...]
    precisions: tuple[str, ...]
    opset: int
    parity: Parity


@dataclass
class Bundle:
    folder: Path
    config: ExperimentConfig
    codec: TextCodec | DocumentCodec
    manifest: Manifest

    @property
    def specs(self) -> GraphSpecs:
        return graph_specs(self.manifest.state_fields)

    def backend(self, runtime: RuntimeConfig | None = None) -> OnnxBackend | OnnxDocumentBackend:
        """ONNX Runtime sessions with ``runtime`` settings (default: the exported config's)."""
        runtime = runtime or self.config.runtime
        if runtime.precision not in self.manifest.precisions:
            raise UserError(
                f"this export has no {runtime.precision} graphs (has: {', '.join(self.manifest.precisions)}); "
                "re-export with --quantize int8 --overwrite"
            )
        if isinstance(self.config, DocumentConfig):
            return OnnxDocumentBackend(self.folder, runtime)
        return OnnxBackend(self.folder, self.specs, runtime)


def write_bundle(folder: Path, config: ExperimentConfig, codec: TextCodec | DocumentCodec, manifest: Manifest) -> Path:
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
    codec_type = TextCodec if isinstance(config, TranslationConfig) else DocumentCodec
    return Bundle(folder, config, codec_type.load(folder / TOKENIZER), manifest)

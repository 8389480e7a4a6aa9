"""An exported captioner as one folder: the three ONNX graphs, tokenizer, resolved config and a manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from pipelines.caption_config import CaptioningConfig, load_captioning_config
from pipelines.caption_onnx import OnnxImageEncoder
from pipelines.caption_parity import CaptionParity
from pipelines.captions import CaptionCodec
from pipelines.config import RuntimeConfig
from pipelines.errors import UserError
from pipelines.onnx_backend import OnnxBackend
from pipelines.onnx_graphs import GraphSpecs, graph_specs

MANIFEST, CONFIG, TOKENIZER = "manifest.json", "config.yaml", "tokenizer.json"


class CaptionManifest(BaseModel):
    run_id: str
    task: str
    state_fields: tuple[str, ...]
    precisions: tuple[str, ...]
    opset: int
    image_size: int
    """Side of the square photos the model takes; uploads are resized to it."""
    parity: CaptionParity


@dataclass
class CaptionBundle:
    folder: Path
    config: CaptioningConfig
    codec: CaptionCodec
    manifest: CaptionManifest

    @property
    def specs(self) -> GraphSpecs:
        return graph_specs(self.manifest.state_fields)

    def _runtime(self, runtime: RuntimeConfig | None) -> RuntimeConfig:
        runtime = runtime or self.config.runtime
        if runtime.precision not in self.manifest.precisions:
            have = ", ".join(self.manifest.precisions)
            raise UserError(f"this export has no {runtime.precision} graphs (has: {have})")
        return runtime

    def image_encoder(self, runtime: RuntimeConfig | None = None) -> OnnxImageEncoder:
        """The image-encoder session (photos → grid)."""
        return OnnxImageEncoder(self.folder, self._runtime(runtime))

    def backend(self, runtime: RuntimeConfig | None = None) -> OnnxBackend:
        """The decoder sessions behind the search protocol (grid → words)."""
        return OnnxBackend(self.folder, self.specs, self._runtime(runtime))


def write_caption_bundle(
    folder: Path, config: CaptioningConfig, codec: CaptionCodec, manifest: CaptionManifest
) -> CaptionBundle:
    """Add config, tokenizer and manifest to ``folder``, which already holds the graphs."""
    (folder / CONFIG).write_text(config.to_yaml())
    codec.save(folder / TOKENIZER)
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return load_caption_bundle(folder)


def load_caption_bundle(folder: Path) -> CaptionBundle:
    if not (folder / MANIFEST).is_file():
        raise UserError(f"{folder} is not an attnops ONNX export (no {MANIFEST})")
    manifest = CaptionManifest.model_validate_json((folder / MANIFEST).read_text())
    config = load_captioning_config(folder / CONFIG)
    return CaptionBundle(folder, config, CaptionCodec.load(folder / TOKENIZER), manifest)

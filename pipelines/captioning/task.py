"""The captioning task's registry entry.

Module level imports only what inference needs; training, evaluation and export import their modules
when called.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from pipelines.captioning.captions import CaptionCodec
from pipelines.captioning.config import MODEL_NAME, CaptioningConfig
from pipelines.captioning.decode import caption_photos
from pipelines.captioning.graphs import CaptionSessions
from pipelines.captioning.image_input import open_image, photo_tensor
from pipelines.config import RuntimeConfig
from pipelines.inference.decoding import beam_param, search_settings
from pipelines.inference.graphs import graph_specs

if TYPE_CHECKING:
    from pipelines.captioning.evaluate import CaptionEvaluation
    from pipelines.captioning.export import TrainedCaptioner
    from pipelines.inference.bundle import Bundle, Manifest
    from pipelines.task import Graphs, ParityCheck, Training


class CaptioningTask:
    name = "captioning"
    config_type = CaptioningConfig
    model_name = MODEL_NAME
    deployment = "Captioner"
    replica = "serving.caption_replica:CaptionReplica"
    splits = ("val", "test")
    quantizations = ()

    def load_codec(self, folder: Path) -> CaptionCodec:
        return CaptionCodec.load(folder)

    def open_backend(self, folder: Path, manifest: Manifest, runtime: RuntimeConfig) -> CaptionSessions:
        return CaptionSessions.open(folder, graph_specs(manifest.state_fields), runtime)

    def predict_frame(
        self, bundle: Bundle, backend: CaptionSessions, frame: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Input: an ``image`` column of base64-encoded JPEG/PNG/WebP files. Output: a ``caption`` column.
        Param: ``beam_size``."""
        size = bundle.manifest.image_size
        photos = torch.stack([photo_tensor(open_image(base64.b64decode(data)), size) for data in frame["image"]])
        settings = search_settings(bundle.config, bundle.codec, beam_param(params))
        captions = caption_photos(backend.image_encoder, backend.decoder, bundle.codec, photos, settings)
        return pd.DataFrame({"caption": [c.text for c in captions]})

    def pyfunc_params(self, config: CaptioningConfig) -> dict[str, Any]:
        return {"beam_size": config.train.eval_beam_size}

    def version_tags(self, config: CaptioningConfig) -> dict[str, str]:
        return {"attention": config.model.attention}

    def load_data(self, config: CaptioningConfig) -> Any:
        from pipelines.captioning.train import load_caption_data

        return load_caption_data(config)

    def prepare_training(self, config: CaptioningConfig, data: Any, work: Path) -> Training:
        from pipelines.captioning.train import prepare_training

        return prepare_training(config, data, work)

    def evaluate_trained(
        self, config: CaptioningConfig, data: Any, training: Training, checkpoint: Path
    ) -> CaptionEvaluation:
        from pipelines.captioning.train import evaluate_trained

        return evaluate_trained(config, data, training, checkpoint)

    def evaluate_run(
        self, run_id: str, config: CaptioningConfig, split: str | None, beam_size: int | None
    ) -> CaptionEvaluation:
        from pipelines.captioning.model import evaluate_caption_run

        return evaluate_caption_run(run_id, config, split, beam_size)

    def load_trained(self, run_id: str, config: CaptioningConfig) -> TrainedCaptioner:
        from pipelines.captioning.export import load_trained

        return load_trained(run_id, config)

    def export_graphs(self, trained: TrainedCaptioner, folder: Path, opset: int) -> Graphs:
        from pipelines.captioning.export import write_graphs

        return write_graphs(trained, folder, opset)

    def check_parity(
        self, trained: TrainedCaptioner, folder: Path, graphs: Graphs, runtime: RuntimeConfig
    ) -> ParityCheck:
        from pipelines.captioning.export import parity_check

        return parity_check(trained, folder, graphs, runtime)

    def export_figures(
        self, trained: TrainedCaptioner, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
    ) -> tuple[tuple[str, ...], dict[str, float]]:
        from pipelines.captioning.export import caption_figures

        return caption_figures(trained, folder, graphs, runtime)

    def example_input(self, trained: TrainedCaptioner) -> pd.DataFrame:
        from pipelines.captioning.export import example_input

        return example_input(trained)


CAPTIONING = CaptioningTask()

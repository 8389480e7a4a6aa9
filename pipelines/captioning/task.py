"""The captioning task's registry entry.

Module level imports only what inference needs; the lifecycle members come from ``lifecycle.py``, imported
when a lifecycle step runs.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from attnops.pipelines.captioning.captions import CaptionCodec
from attnops.pipelines.captioning.config import MODEL_NAME, CaptioningConfig
from attnops.pipelines.captioning.decode import caption_photos
from attnops.pipelines.captioning.graphs import CaptionSessions
from attnops.pipelines.captioning.image_input import open_image, photo_tensor
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.decoding import beam_param, search_settings
from attnops.pipelines.inference.graphs import graph_specs
from attnops.pipelines.task import Headline, InputSpec, Lazy, LazyLifecycle, Route, Service, Tab

if TYPE_CHECKING:
    from attnops.pipelines.inference.bundle import Bundle, Manifest


class CaptioningTask(LazyLifecycle):
    name = "captioning"
    config_type = CaptioningConfig
    model_name = MODEL_NAME
    service = Service(
        "Captioner",
        Lazy("attnops.serving.caption_replica:CaptionReplica"),
        (
            Route(
                "/v1/caption",
                "caption",
                Lazy("attnops.serving.caption_schemas:CaptionUpload"),
                Lazy("attnops.serving.caption_schemas:CaptionResponse"),
                "The photo's caption; with ``return_attention``, each word's attention over the region grid.",
                summary="caption a photo: multipart upload (field 'image') or JSON with the file base64-encoded",
                reader=Lazy("attnops.serving.caption_schemas:read_caption_upload"),
                request_body=Lazy("attnops.serving.caption_schemas:caption_request_body"),
            ),
        ),
        Tab("Caption"),
    )
    commands = Lazy("attnops.pipelines.captioning.commands:add_commands")
    splits = ("val", "test")
    quantizations = ()
    headline = Headline(
        test_metrics=("test_bleu4", "test_cider"),
        curve="val_cider",
        evaluation="the config's beam",
        figures_label="test BLEU-4 / CIDEr-D",
        baseline="nearest-neighbour caption",
        baseline_metrics=("test_nn_bleu4", "test_nn_cider"),
    )
    input = InputSpec("image", binary=True)
    lifecycle = Lazy("attnops.pipelines.captioning.lifecycle")

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
        return config.model.tags()


CAPTIONING = CaptioningTask()

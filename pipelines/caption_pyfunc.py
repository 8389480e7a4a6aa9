"""The exported captioner as an MLflow pyfunc model (models-from-code, like :mod:`pipelines.pyfunc_model`).

Input: an ``image`` column of base64-encoded JPEG/PNG/WebP files. Output: a ``caption`` column.
Param: ``beam_size``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch

from pipelines.caption_bundle import CaptionBundle, load_caption_bundle
from pipelines.caption_evaluate import caption_photos, caption_search_settings
from pipelines.caption_onnx import OnnxImageEncoder
from pipelines.image_input import open_image, photo_tensor
from pipelines.onnx_backend import OnnxBackend
from pipelines.pyfunc_model import BUNDLE_ARTIFACT


class CaptionerModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.bundle = load_caption_bundle(Path(context.artifacts[BUNDLE_ARTIFACT]))
        self.encoder, self.backend = self.bundle.image_encoder(), self.bundle.backend()

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        beam_size = int((params or {}).get("beam_size") or 0) or None
        return self.caption_frame(self.bundle, self.encoder, self.backend, model_input, beam_size)

    @staticmethod
    def caption_frame(
        bundle: CaptionBundle,
        encoder: OnnxImageEncoder,
        backend: OnnxBackend,
        frame: pd.DataFrame,
        beam_size: int | None,
    ) -> pd.DataFrame:
        """Caption the base64 images of the ``image`` column of ``frame``."""
        size = bundle.manifest.image_size
        photos = torch.stack([photo_tensor(open_image(base64.b64decode(b)), size) for b in frame["image"]])
        settings = caption_search_settings(bundle.config, bundle.codec, beam_size)
        captions = caption_photos(encoder, backend, bundle.codec, photos, settings)
        return pd.DataFrame({"caption": [c.text for c in captions]})


mlflow.models.set_model(CaptionerModel())

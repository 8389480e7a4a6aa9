"""A captioner's export as an MLflow pyfunc model (models-from-code, like :mod:`pipelines.pyfunc_model`).

Input: an ``image`` column of base64-encoded JPEG/PNG/WebP files. Output: a ``caption`` column.
Param: ``beam_size``.
"""

from __future__ import annotations

import base64
from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch

from pipelines.bundle import Bundle
from pipelines.caption_evaluate import caption_photos
from pipelines.caption_onnx import CaptionSessions
from pipelines.image_input import open_image, photo_tensor
from pipelines.pyfunc_model import BundleModel
from pipelines.translate import search_settings


class CaptionPyfunc(BundleModel):
    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        beam_size = int((params or {}).get("beam_size") or 0) or None
        return self.caption_frame(self.bundle, self.backend, model_input, beam_size)

    @staticmethod
    def caption_frame(
        bundle: Bundle, sessions: CaptionSessions, frame: pd.DataFrame, beam_size: int | None
    ) -> pd.DataFrame:
        """Caption the base64 images of the ``image`` column of ``frame``."""
        size = bundle.manifest.image_size
        photos = torch.stack([photo_tensor(open_image(base64.b64decode(data)), size) for data in frame["image"]])
        settings = search_settings(bundle.config, bundle.codec, beam_size)
        captions = caption_photos(sessions.image_encoder, sessions.decoder, bundle.codec, photos, settings)
        return pd.DataFrame({"caption": [c.text for c in captions]})


mlflow.models.set_model(CaptionPyfunc())

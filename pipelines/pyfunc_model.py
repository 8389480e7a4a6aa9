"""The exported bundle as an MLflow pyfunc model, so that ``mlflow models serve`` can serve it too.

Logged as code (MLflow's models-from-code): MLflow stores this file with the model and runs it at load
time, so loading needs the ``attnops`` package installed (``--env-manager local``), not a pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from pipelines.bundle import Bundle, load_bundle
from pipelines.onnx_backend import OnnxBackend
from pipelines.translate import search_settings, translate

BUNDLE_ARTIFACT = "bundle"
"""Key of the bundle folder in the pyfunc model's artifacts."""


class BundleModel(mlflow.pyfunc.PythonModel):
    """A pyfunc model that opens its bundle and ONNX Runtime sessions when MLflow loads it."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.bundle = load_bundle(Path(context.artifacts[BUNDLE_ARTIFACT]))
        self.backend = self.bundle.backend()


class TranslatorModel(BundleModel):
    """Input: a ``text`` column of source sentences. Output: a ``translation`` column. Param: ``beam_size``."""

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        beam_size = int((params or {}).get("beam_size") or 0) or None
        return self.translate_frame(self.bundle, self.backend, model_input, beam_size)

    @staticmethod
    def translate_frame(
        bundle: Bundle, backend: OnnxBackend, frame: pd.DataFrame, beam_size: int | None
    ) -> pd.DataFrame:
        """Translate the ``text`` column of ``frame``."""
        settings = search_settings(bundle.config, bundle.codec, beam_size)
        translations = translate(backend, bundle.codec, frame["text"].astype(str).tolist(), settings)
        return pd.DataFrame({"translation": [t.text for t in translations]})


mlflow.models.set_model(TranslatorModel())

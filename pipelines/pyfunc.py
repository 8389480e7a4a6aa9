"""Any task's export as an MLflow pyfunc model, so that ``mlflow models serve`` can serve it too.

A models-from-code script: the exporter logs this file by path and MLflow runs it when it loads the
model, so loading needs the ``attnops`` package installed (``--env-manager local``), not a pickle.
Nothing else imports it (running it sets MLflow's process-wide model). The task named in the bundle's
config turns a data frame into predictions: its ``predict_frame`` documents the columns and params.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from attnops.pipelines.inference.artifacts import BUNDLE_ARTIFACT
from attnops.pipelines.inference.bundle import load_bundle
from attnops.pipelines.tasks import task_named


class BundleModel(mlflow.pyfunc.PythonModel):
    """Opens its bundle and ONNX Runtime sessions when MLflow loads it; predicts through the bundle's task."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.bundle = load_bundle(Path(context.artifacts[BUNDLE_ARTIFACT]))
        self.backend = self.bundle.backend()
        self.task = task_named(self.bundle.config.task)

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.task.predict_frame(self.bundle, self.backend, model_input, params)


mlflow.models.set_model(BundleModel())

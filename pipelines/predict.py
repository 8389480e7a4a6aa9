"""Predict stage, for every task: a data frame through the export a model URI names, in ONNX Runtime."""

from __future__ import annotations

from typing import Any

import pandas as pd

from attnops.pipelines.inference.resolve import resolve
from attnops.pipelines.tasks import task_named


def predict(uri: str, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Predictions for ``frame`` from the model ``uri`` names (``runs:/``, ``models:/NAME/VERSION``, ``@ALIAS``).

    The columns are those of the task's pyfunc model (what ``mlflow models serve`` takes), e.g. ``text``.
    """
    bundle = resolve(uri).bundle
    return task_named(bundle.config.task).predict_frame(bundle, bundle.backend(), frame, params)

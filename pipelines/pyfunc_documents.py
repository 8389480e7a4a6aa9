"""A hierarchical model's export as an MLflow pyfunc model (models-from-code, like ``pyfunc_model``).

Input: a ``text`` column of documents. Output: ``label`` and ``probability`` (classification) or
``summary`` (extractive summarization, the configured number of sentences).
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from pipelines.bundle import Bundle
from pipelines.document_predict import DocumentBackend, classify, predict_documents, summarize
from pipelines.pyfunc_model import BundleModel
from pipelines.sentences import split_sentences


class DocumentPyfunc(BundleModel):
    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.predict_frame(self.bundle, self.backend, model_input)

    @staticmethod
    def predict_frame(bundle: Bundle, backend: DocumentBackend, frame: pd.DataFrame) -> pd.DataFrame:
        codec, config = bundle.codec, bundle.config
        documents = codec.encode([split_sentences(text) for text in frame["text"].astype(str)])
        predictions = predict_documents(backend, documents)
        if config.task == "classification":
            results = [classify(p, codec) for p in predictions]
            return pd.DataFrame({"label": [r.label for r in results],
                                 "probability": [r.probabilities[r.label] for r in results]})  # fmt: skip
        budget = config.summary
        summaries = [summarize(p, budget) for p in predictions]
        return pd.DataFrame({"summary": [" ".join(s.text for s in picked) for picked in summaries]})


mlflow.models.set_model(DocumentPyfunc())

"""The abstractive summarization task's registry entry.

Module level imports only what inference needs; the lifecycle members come from ``lifecycle.py``, imported
when a lifecycle step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.config import GATE_METRIC, MODEL_NAME, AbstractiveConfig
from attnops.pipelines.abstractive.settings import summary_settings
from attnops.pipelines.abstractive.summarize import summarize
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.decoding import beam_param
from attnops.pipelines.inference.graphs import graph_specs
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.task import TEXT_INPUT, Headline, Lazy, LazyLifecycle, Route, Service, Tab

if TYPE_CHECKING:
    from attnops.pipelines.inference.bundle import Bundle, Manifest


class AbstractiveTask(LazyLifecycle):
    name = "abstractive"
    config_type = AbstractiveConfig
    model_name = MODEL_NAME
    service = Service(
        "AbstractiveSummarizer",
        Lazy("attnops.serving.abstractive_replica:AbstractiveReplica"),
        (
            Route(
                "/v1/summarize",
                "summarize",
                Lazy("attnops.serving.schemas:SummarizeRequest"),
                Lazy("attnops.serving.schemas:SummarizeResponse"),
                when=("mode", "abstractive"),
            ),
        ),
        Tab("Summarize", panel="summarization"),  # one tab for both kinds of summary
    )
    commands = None  # ``attnops summarize`` (the summarization task's) takes abstractive models too
    splits = ("val", "test")
    quantizations = ("int8",)
    headline = Headline(
        test_metrics=(GATE_METRIC,),
        curve="val_rougeL",
        evaluation="the config's beam",
        figures=("test_rouge1", "test_rouge2", "test_rougeL"),
        figures_label="test ROUGE-1/2/L",
        baseline="lead-1",
        baseline_metrics=("test_lead1_rouge1", "test_lead1_rouge2", "test_lead1_rougeL"),
    )
    input = TEXT_INPUT
    lifecycle = Lazy("attnops.pipelines.abstractive.lifecycle")

    def load_codec(self, folder: Path) -> WordCodec:
        return WordCodec.load(folder)

    def open_backend(self, folder: Path, manifest: Manifest, runtime: RuntimeConfig) -> OnnxBackend:
        return OnnxBackend(folder, graph_specs(manifest.state_fields), runtime)

    def predict_frame(
        self, bundle: Bundle, backend: OnnxBackend, frame: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Input: a ``text`` column of documents. Output: a ``summary`` column. Param: ``beam_size``."""
        config = bundle.config
        settings = summary_settings(config, bundle.codec, beam_param(params))
        documents = frame["text"].astype(str).tolist()
        summaries = summarize(backend, bundle.codec, documents, settings, config.data.max_source_words)
        return pd.DataFrame({"summary": [s.text for s in summaries]})

    def pyfunc_params(self, config: AbstractiveConfig) -> dict[str, Any]:
        return {"beam_size": config.train.eval_beam_size}

    def version_tags(self, config: AbstractiveConfig) -> dict[str, str]:
        return {"attention": config.model.attention, "decoder": f"pointer-{config.model.decoder}"}


ABSTRACTIVE = AbstractiveTask()

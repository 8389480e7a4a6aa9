"""The translation task's registry entry.

Module level imports only what inference needs; the lifecycle members come from ``lifecycle.py``, imported
when a lifecycle step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.decoding import beam_param, search_settings
from attnops.pipelines.inference.graphs import graph_specs
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.task import TEXT_INPUT, Headline, Lazy, LazyLifecycle, Route, Service, Tab
from attnops.pipelines.translation.config import MODEL_NAME, SPLITS, TRAIN_TOKENS_PARAM, TranslationConfig
from attnops.pipelines.translation.tokenizer import TextCodec
from attnops.pipelines.translation.translate import translate

if TYPE_CHECKING:
    from attnops.pipelines.inference.bundle import Bundle, Manifest


class TranslationTask(LazyLifecycle):
    name = "translation"
    config_type = TranslationConfig
    model_name = MODEL_NAME
    service = Service(
        "Translator",
        Lazy("attnops.serving.translation_replica:TranslationReplica"),
        (
            Route(
                "/v1/translate",
                "translate",
                Lazy("attnops.serving.schemas:TranslateRequest"),
                Lazy("attnops.serving.schemas:TranslateResponse"),
                "Each sentence's translation; the answer names the model version that gave it. During a rollout a\n"
                "share of requests is answered by the candidate; requests with the same ``X-Rollout-Key`` header go "
                "to\nthe same version.",
            ),
        ),
        Tab("Translate"),
    )
    commands = Lazy("attnops.pipelines.translation.commands:add_commands")
    splits = tuple(split for split in SPLITS if split != "train")
    quantizations = ("int8",)
    headline = Headline(
        test_metrics=("test_2016_flickr_bleu", "test_2016_flickr_bleu_lc"),
        curve="val_bleu_lc",
        threshold=28.3,
        overrides=("train.eval_beam_size=1",),
        evaluation="greedy search",
        tokens_param=TRAIN_TOKENS_PARAM,
        speed_probe=Lazy("attnops.pipelines.translation.speed:eager_vs_onnx"),
        figures_label="test2016 BLEU cased / lowercased",
    )
    input = TEXT_INPUT
    lifecycle = Lazy("attnops.pipelines.translation.lifecycle")

    def load_codec(self, folder: Path) -> TextCodec:
        return TextCodec.load(folder)

    def open_backend(self, folder: Path, manifest: Manifest, runtime: RuntimeConfig) -> OnnxBackend:
        return OnnxBackend(folder, graph_specs(manifest.state_fields), runtime)

    def predict_frame(
        self, bundle: Bundle, backend: OnnxBackend, frame: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Input: a ``text`` column of source sentences. Output: a ``translation`` column. Param: ``beam_size``."""
        settings = search_settings(bundle.config, bundle.codec, beam_param(params))
        translations = translate(backend, bundle.codec, frame["text"].astype(str).tolist(), settings)
        return pd.DataFrame({"translation": [t.text for t in translations]})

    def pyfunc_params(self, config: TranslationConfig) -> dict[str, Any]:
        return {"beam_size": config.train.eval_beam_size}

    def version_tags(self, config: TranslationConfig) -> dict[str, str]:
        return config.model.tags()


TRANSLATION = TranslationTask()

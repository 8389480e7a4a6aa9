"""The translation task's registry entry.

Module level imports only what inference needs; training, evaluation and export import their modules
when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines.config import RuntimeConfig
from pipelines.inference.decoding import beam_param, search_settings
from pipelines.inference.graphs import graph_specs
from pipelines.inference.onnx_runtime import OnnxBackend
from pipelines.translation.config import MODEL_NAME, TranslationConfig
from pipelines.translation.data import SPLITS
from pipelines.translation.tokenizer import TextCodec
from pipelines.translation.translate import translate

if TYPE_CHECKING:
    from pipelines.inference.bundle import Bundle, Manifest
    from pipelines.task import Graphs, ParityCheck, Training
    from pipelines.translation.evaluate import EvaluationResult
    from pipelines.translation.export import TrainedTranslator


class TranslationTask:
    name = "translation"
    config_type = TranslationConfig
    model_name = MODEL_NAME
    deployment = "Translator"
    replica = "serving.translation_replica:TranslationReplica"
    splits = tuple(split for split in SPLITS if split != "train")
    quantizations = ("int8",)

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
        return {"attention": config.model.attention, "decoder": config.model.decoder}

    def load_data(self, config: TranslationConfig) -> Any:
        from pipelines.translation.data import load_corpus

        return load_corpus(config.data)

    def prepare_training(self, config: TranslationConfig, data: Any, work: Path) -> Training:
        from pipelines.translation.train import prepare_training

        return prepare_training(config, data, work)

    def evaluate_trained(
        self, config: TranslationConfig, data: Any, training: Training, checkpoint: Path
    ) -> EvaluationResult:
        from pipelines.translation.train import evaluate_trained

        return evaluate_trained(config, data, training, checkpoint)

    def evaluate_run(
        self, run_id: str, config: TranslationConfig, split: str | None, beam_size: int | None
    ) -> EvaluationResult:
        from pipelines.translation.evaluate import evaluate_run

        return evaluate_run(run_id, config, split, beam_size)

    def load_trained(self, run_id: str, config: TranslationConfig) -> TrainedTranslator:
        from pipelines.translation.export import load_trained

        return load_trained(run_id, config)

    def export_graphs(self, trained: TrainedTranslator, folder: Path, opset: int) -> Graphs:
        from pipelines.translation.export import write_graphs

        return write_graphs(trained, folder, opset)

    def check_parity(
        self, trained: TrainedTranslator, folder: Path, graphs: Graphs, runtime: RuntimeConfig
    ) -> ParityCheck:
        from pipelines.translation.export import parity_check

        return parity_check(trained, folder, graphs, runtime)

    def export_figures(
        self, trained: TrainedTranslator, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
    ) -> tuple[tuple[str, ...], dict[str, float]]:
        from pipelines.translation.export import quantized_figures

        return quantized_figures(trained, folder, graphs, runtime, quantize)

    def example_input(self, trained: TrainedTranslator) -> pd.DataFrame:
        return pd.DataFrame({"text": trained.parity_data.sources[:2]})


TRANSLATION = TranslationTask()

"""A task defined here, in the test, runs the whole shared lifecycle: train → export → register → promote → predict,
and is served: its command, its route on the gateway and its Serve deployment come from its registry entry.

The toy task tells German from English sentences of the real Multi30k data with a bag of byte embeddings.
Nothing under ``pipelines/`` or ``serving/`` knows it: one entry in ``TASKS``, for the test only, adds it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import mlflow
import pandas as pd
import pytest
import pytorch_lightning as pl
import ray
import torch
import torch.nn.functional as F
from pydantic import Field
from ray import serve
from torch import Tensor, nn
from torch.utils.data import DataLoader

from attnops.cli import main
from attnops.pipelines import tracking
from attnops.pipelines.config import (
    REPO_ROOT,
    ExperimentConfig,
    RegistryConfig,
    RuntimeConfig,
    Section,
    TrainConfig,
    load_config,
)
from attnops.pipelines.export import export_run
from attnops.pipelines.fitting import load_weights
from attnops.pipelines.inference.artifacts import CHECKPOINT_ARTIFACT, TOKENIZER_ARTIFACT
from attnops.pipelines.inference.bundle import Bundle, Manifest, Parity
from attnops.pipelines.inference.decoding import SearchOverride
from attnops.pipelines.inference.graphs import GraphSpec
from attnops.pipelines.inference.onnx_runtime import create_session
from attnops.pipelines.onnx_export import export_graph
from attnops.pipelines.predict import predict
from attnops.pipelines.registry import list_versions, promote, register
from attnops.pipelines.task import Graphs, Lazy, ParityCheck, Route, Service, Tab, Training
from attnops.pipelines.tasks import TASKS
from attnops.pipelines.train import train
from attnops.pipelines.translation.config import DataConfig
from attnops.pipelines.translation.data import load_corpus
from attnops.serving.build import application
from attnops.serving.replica import ModelReplica, observed
from attnops.serving.server import free_port, start_local_serve
from attnops.serving.settings import ReplicaSettings
from tests.toy_schemas import LanguageRequest, LanguageResponse

pytestmark = [pytest.mark.slow, pytest.mark.ray]

LANGUAGES = ("de", "en")
GRAPH = GraphSpec(
    stem="language",
    inputs=("ids", "mask"),
    outputs=("logits",),
    dynamic_axes={"ids": {0: "batch", 1: "bytes"}, "mask": {0: "batch", 1: "bytes"}, "logits": {0: "batch"}},
)


class ToyModelConfig(Section):
    attention: str = "none"
    embedding_dim: int = Field(16, ge=1)


class ToyDataConfig(Section):
    sentences: int = Field(400, ge=10)
    """Sentence pairs per training split (each gives one German and one English example)."""


class ToyConfig(ExperimentConfig):
    task: Literal["toy"] = "toy"
    model: ToyModelConfig = ToyModelConfig()
    data: ToyDataConfig = ToyDataConfig()
    train: TrainConfig = TrainConfig(max_epochs=3, batch_size=32, early_stopping_patience=0)
    registry: RegistryConfig = RegistryConfig(model_name="toy-language", gate_metric="test_accuracy")


class ByteCodec:
    """UTF-8 bytes as ids (0 pads); the label names are its only state."""

    labels = LANGUAGES

    def encode(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        rows = [list(text.encode())[:200] or [32] for text in texts]
        ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)  # (B, T)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids, ids != 0

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "labels.json").write_text(json.dumps(self.labels))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ByteCodec:
        assert tuple(json.loads((folder / "labels.json").read_text())) == LANGUAGES
        return cls()


class BagOfBytes(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.embedding, self.out = nn.Embedding(256, dim), nn.Linear(dim, len(LANGUAGES))

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        weights = mask.float() / mask.sum(1, keepdim=True)  # (B, T)
        return self.out((self.embedding(ids) * weights.unsqueeze(-1)).sum(1))  # (B, 2)


class ToyModule(pl.LightningModule):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.model = BagOfBytes(dim)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], index: int) -> Tensor:
        ids, mask, labels = batch
        loss = F.cross_entropy(self.model(ids, mask), labels)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], index: int) -> None:
        ids, mask, labels = batch
        accuracy = (self.model(ids, mask).argmax(1) == labels).float().mean()
        self.log("val_accuracy", accuracy, on_epoch=True, batch_size=len(labels))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=0.05)


@dataclass
class Examples:
    texts: list[str]
    labels: list[int]


def _examples(split, limit: int) -> Examples:
    sources, targets = split.sources[:limit], split.targets[:limit]
    return Examples([*sources, *targets], [0] * len(sources) + [1] * len(targets))


def _loader(examples: Examples, batch_size: int, shuffle: bool) -> DataLoader:
    codec = ByteCodec()

    def collate(items: list[tuple[str, int]]) -> tuple[Tensor, Tensor, Tensor]:
        ids, mask = codec.encode([text for text, _ in items])
        return ids, mask, torch.tensor([label for _, label in items])

    pairs = list(zip(examples.texts, examples.labels))
    return DataLoader(pairs, batch_size=batch_size, shuffle=shuffle, collate_fn=collate)


@dataclass
class ToyEvaluation:
    metrics: dict[str, float]

    def metric_lines(self) -> list[str]:
        return [f"{name}: {value:.2f}" for name, value in sorted(self.metrics.items())]

    def sample_lines(self) -> list[str]:
        return []


def _accuracy(backend: Any, examples: Examples) -> float:
    ids, mask = ByteCodec().encode(examples.texts)
    with torch.no_grad():
        predicted = backend(ids, mask).argmax(1)
    return float((predicted == torch.tensor(examples.labels)).float().mean())


class OnnxLanguageBackend:
    def __init__(self, folder: Path, runtime: RuntimeConfig) -> None:
        self.session = create_session(folder / GRAPH.file(runtime.precision), runtime)

    def __call__(self, ids: Tensor, mask: Tensor) -> Tensor:
        (logits,) = self.session.run(None, {"ids": ids.numpy(), "mask": mask.numpy()})
        return torch.from_numpy(logits)


@dataclass
class Trained:
    codec: ByteCodec
    model: BagOfBytes
    examples: Examples


class ToyTask:
    name = "toy"
    config_type = ToyConfig
    model_name = "toy-language"
    service = Service(
        "LanguageDetector",
        Lazy("tests.test_task_registry:ToyReplica"),
        (
            Route(
                "/v1/language",
                "detect",
                Lazy("tests.toy_schemas:LanguageRequest"),
                Lazy("tests.toy_schemas:LanguageResponse"),
                "Whether each text is German or English.",
            ),
        ),
        Tab("Language"),
    )
    commands = Lazy("tests.test_task_registry:add_commands")
    splits = ("val", "test")
    quantizations = ()

    def load_codec(self, folder: Path) -> ByteCodec:
        return ByteCodec.load(folder)

    def open_backend(self, folder: Path, manifest: Manifest, runtime: RuntimeConfig) -> OnnxLanguageBackend:
        return OnnxLanguageBackend(folder, runtime)

    def predict_frame(
        self, bundle: Bundle, backend: Any, frame: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        probabilities = backend(*bundle.codec.encode(frame["text"].astype(str).tolist())).softmax(1)  # (B, 2)
        best = probabilities.argmax(1)
        return pd.DataFrame(
            {"language": [LANGUAGES[i] for i in best], "probability": probabilities.max(1).values.tolist()}
        )

    def pyfunc_params(self, config: ToyConfig) -> dict[str, Any]:
        return {}

    def version_tags(self, config: ToyConfig) -> dict[str, str]:
        return {"attention": config.model.attention}

    def load_data(self, config: ToyConfig) -> dict[str, Examples]:
        corpus = load_corpus(DataConfig(max_train_examples=config.data.sentences, max_eval_examples=60))
        return {split: _examples(corpus[name], config.data.sentences) for split, name in
                (("train", "train"), ("val", "val"), ("test", "test_2016_flickr"))}  # fmt: skip

    def prepare_training(self, config: ToyConfig, data: dict[str, Examples], work: Path) -> Training:
        tracking.log_artifact(ByteCodec().save(work / "tokenizer"), TOKENIZER_ARTIFACT)
        return Training(
            ToyModule(config.model.embedding_dim),
            _loader(data["train"], config.train.batch_size, True),
            _loader(data["val"], config.train.batch_size, False),
            monitor="val_accuracy",
        )

    def evaluate_trained(
        self, config: ToyConfig, data: dict[str, Examples], training: Training, checkpoint: Path
    ) -> ToyEvaluation:
        model = load_weights(training.module.model, checkpoint)
        evaluation = ToyEvaluation({"test_accuracy": _accuracy(model, data["test"])})
        tracking.log_metrics(evaluation.metrics)
        return evaluation

    def evaluate_run(self, run_id: str, config: ToyConfig, split: str | None, search: SearchOverride) -> ToyEvaluation:
        trained = self.load_trained(run_id, config)
        return ToyEvaluation({"test_accuracy": _accuracy(trained.model, trained.examples)})

    def load_trained(self, run_id: str, config: ToyConfig) -> Trained:
        model = load_weights(BagOfBytes(config.model.embedding_dim), tracking.download(run_id, CHECKPOINT_ARTIFACT))
        codec = ByteCodec.load(tracking.download(run_id, TOKENIZER_ARTIFACT))
        return Trained(codec, model, self.load_data(config)["test"])

    def export_graphs(self, trained: Trained, folder: Path, opset: int) -> Graphs:
        folder.mkdir(parents=True, exist_ok=True)
        export_graph(trained.model.eval(), trained.codec.encode(["ein Hund", "a dog runs"]), folder / GRAPH.file(),
                     GRAPH, opset)  # fmt: skip
        return Graphs()

    def check_parity(self, trained: Trained, folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> ParityCheck:
        backend = OnnxLanguageBackend(folder, runtime)
        ids, mask = trained.codec.encode(trained.examples.texts)  # other shapes than the export's
        with torch.no_grad():
            expected, actual = trained.model(ids, mask), backend(ids, mask)
        mismatches = int((expected.argmax(1) != actual.argmax(1)).sum())
        parity = Parity(
            max_abs_logits=float((expected - actual).abs().max()),
            max_abs_attention=0.0,
            tolerance=1e-4,
            greedy_sentences=len(ids),
            greedy_mismatches=mismatches,
        )
        return ParityCheck(parity, {"parity_max_abs_logits": parity.max_abs_logits}, "logits differ",
                           f"labels identical on {len(ids)}/{len(ids)} sentences")  # fmt: skip

    def export_figures(
        self, trained: Trained, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
    ) -> tuple[tuple[str, ...], dict[str, float]]:
        return ("fp32",), {"onnx_test_accuracy": _accuracy(OnnxLanguageBackend(folder, runtime), trained.examples)}

    def example_input(self, trained: Trained) -> pd.DataFrame:
        return pd.DataFrame({"text": trained.examples.texts[:2]})


def _detect_language(args: argparse.Namespace) -> None:
    for language in predict(args.model, pd.DataFrame({"text": args.texts}))["language"]:
        print(language)


def add_commands(commands: argparse._SubParsersAction) -> None:
    detect = commands.add_parser("detect-language", help="German or English? One answer per TEXT")
    detect.add_argument("texts", nargs="+", metavar="TEXT")
    detect.add_argument("--model", required=True)
    detect.set_defaults(func=_detect_language)


class ToySettings(ReplicaSettings):
    task: Literal["toy"] = "toy"
    model_uri: str = "models:/toy-language@champion"


@serve.deployment
class ToyReplica(ModelReplica):
    settings_type = ToySettings
    unit = "texts"

    def __init__(self) -> None:
        # The same entry in the replica's process. Serve sends this class by value, with a copy of what it
        # names at module level: the registry is imported here, in the replica.
        from attnops.pipelines.tasks import TASKS

        TASKS.setdefault("toy", Lazy("tests.test_task_registry:TOY"))
        super().__init__()

    @observed
    async def detect(self, request: LanguageRequest) -> LanguageResponse:
        model = self.loaded()
        languages = [await self.submit(text) for text in request.texts]
        return LanguageResponse(languages=languages, model=model.served())

    async def run_batch(self, texts: list[str]) -> list[str]:
        model = self.model
        logits = model.backend(*model.resolved.bundle.codec.encode(texts))  # (B, 2)
        return [LANGUAGES[i] for i in logits.argmax(1).tolist()]


TOY = ToyTask()
ENTRY = Lazy("tests.test_task_registry:TOY")
"""The toy task's registry entry: one line, as in ``attnops.pipelines.tasks``."""


@pytest.fixture
def toy_task(monkeypatch) -> ToyTask:
    monkeypatch.setitem(TASKS, TOY.name, ENTRY)
    return TOY


def test_a_task_defined_outside_the_package_runs_the_whole_lifecycle_and_is_served(toy_task, tmp_path, capsys):
    config = load_config(None, ["task=toy", "tracking.system_metrics=false", "tracking.experiment=toy"])
    assert isinstance(config, ToyConfig) and config.registry.model_name == "toy-language"

    trained = train(config)
    assert trained.evaluation.metrics["test_accuracy"] > 0.8  # bytes tell German from English
    assert trained.lines()[-1] == trained.run_id

    exported = export_run(trained.run_id)
    assert exported.bundle.manifest.task == "toy" and exported.bundle.manifest.parity.passed
    assert exported.metrics["onnx_test_accuracy"] == pytest.approx(trained.evaluation.metrics["test_accuracy"])

    version = str(register(trained.run_id).version)
    assert promote("toy-language", version).version == version
    (row,) = list_versions("toy-language")
    assert (row.task, row.aliases, row.gate_metric, row.parity) == ("toy", ["champion"], "test_accuracy", "passed")

    frame = pd.DataFrame({"text": ["Ein Mann fährt Fahrrad auf der Straße.", "A woman is reading a book."]})
    local = predict("models:/toy-language@champion", frame)
    assert local["language"].tolist() == ["de", "en"]
    # The one pyfunc script serves the toy task too (what 'mlflow models serve' loads).
    served = mlflow.pyfunc.load_model("models:/toy-language@champion").predict(frame)
    assert served["language"].tolist() == ["de", "en"]
    assert served["probability"].tolist() == pytest.approx(local["probability"].tolist(), abs=1e-6)

    # Its command, from the entry's ``commands``.
    capsys.readouterr()  # what training printed
    assert main(["detect-language", "--model", "models:/toy-language@champion", *frame["text"]]) == 0
    assert capsys.readouterr().out.split() == ["de", "en"]

    # Its deployment and its route, from the entry's ``service``, on a real Serve.
    port = free_port()
    tracking_uri = mlflow.get_tracking_uri()
    start_local_serve({"host": "127.0.0.1", "port": port}, {"MLFLOW_TRACKING_URI": tracking_uri,
                      "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO_ROOT)}, num_cpus=2)  # fmt: skip
    options = {"LanguageDetector": {"user_config": {"poll_interval_s": 0, "inference_log": {"enabled": False}}}}
    try:
        serve.run(application(options, ("toy",)), name="attnops", route_prefix="/")
        assert "LanguageDetector" in serve.status().applications["attnops"].deployments
        url = f"http://127.0.0.1:{port}"
        answer = httpx.post(f"{url}/v1/language", json={"texts": frame["text"].tolist()}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["languages"] == ["de", "en"] and answer.json()["model"]["name"] == "toy-language"
        assert httpx.post(f"{url}/v1/language", json={"texts": []}, timeout=60).status_code == 422
        paths = httpx.get(f"{url}/openapi.json", timeout=60).json()["paths"]
        assert {"/v1/language", "/v1/translate"} <= set(paths)
        assert [s["task"] for s in httpx.get(f"{url}/v1/models", timeout=60).json()] == ["toy"]
        tab = {"panel": "toy", "label": "Language", "tasks": ["toy"], "path": "/v1/language"}
        assert httpx.get(f"{url}/ui/tabs.json", timeout=60).json()[-1] == tab  # the playground's tab
    finally:
        serve.shutdown()
        ray.shutdown()

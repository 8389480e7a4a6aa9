"""A real training run tracked by a real ``mlflow server`` process, then re-evaluated."""

from __future__ import annotations

import pytest

from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.evaluate import evaluate_run
from attnops.pipelines.inference.decoding import SearchOverride
from attnops.pipelines.train import TrainResult, train

pytestmark = pytest.mark.slow

TINY = [
    "data.max_train_examples=400",
    "data.max_eval_examples=12",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=24",
    "train.max_epochs=2",
    "train.batch_size=32",
    "train.eval_beam_size=2",
    "train.max_decode_length=20",
    "tracking.heatmap_sentences=2",
    "tracking.experiment=integration",
]


@pytest.fixture(scope="module")
def server_run(mlflow_server) -> tuple[str, TrainResult]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        env.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
        config_path = REPO_ROOT / "pipelines/configs/translation/demo.yaml"
        yield mlflow_server, train(load_config(config_path, TINY), config_path)


@pytest.fixture
def client(server_run, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_run[0])
    return MlflowClient(server_run[0])


def _artifacts(client, run_id: str, path: str = "") -> set[str]:
    found = set()
    for info in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, info.path) if info.is_dir else {info.path}
    return found


def test_run_logs_every_resolved_config_value_as_params(client, server_run):
    result = server_run[1]
    run = client.get_run(result.run_id)
    params = run.data.params
    assert params["model.attention"] == "additive"
    assert params["train.max_epochs"] == "2"
    assert params["data.max_train_examples"] == "400"
    assert params["data.size.train"] == "400" and params["data.size.test_2016_flickr"] == "12"
    assert int(params["vocab.target"]) <= 300
    assert run.info.status == "FINISHED"


def test_run_logs_curves_bleu_and_system_metrics(client, server_run):
    run_id = server_run[1].run_id
    metrics = client.get_run(run_id).data.metrics
    for split in ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco"):
        assert 0.0 <= metrics[f"{split}_bleu"] <= 100.0
        assert f"{split}_bleu_lc" in metrics
    for curve in ("train_loss_epoch", "val_loss", "val_bleu", "lr"):
        assert [m.step for m in client.get_metric_history(run_id, curve)] == [0, 1], curve
    losses = [m.value for m in client.get_metric_history(run_id, "train_loss_epoch")]
    assert losses[1] < losses[0]
    assert any(name.startswith("system/") for name in metrics)


def test_run_logs_tokenizer_checkpoint_config_and_heatmaps(client, server_run):
    artifacts = _artifacts(client, server_run[1].run_id)
    assert {"tokenizer/source.json", "tokenizer/target.json", "checkpoint/best.ckpt", "config.yaml"} <= artifacts
    assert {"attention/test_2016_flickr_000.png", "attention/test_2016_flickr_001.png"} <= artifacts
    assert "source_config/demo.yaml" in artifacts
    heatmap = client.download_artifacts(server_run[1].run_id, "attention/test_2016_flickr_000.png")
    with open(heatmap, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_evaluate_adds_figures_to_the_same_run(client, server_run):
    run_id = server_run[1].run_id
    before = client.get_run(run_id).data.metrics
    result = evaluate_run(run_id, "test_2016_flickr", SearchOverride(beam_size=1))
    after = client.get_run(run_id).data.metrics
    assert set(result.metrics) == {"test_2016_flickr_bleu_beam1", "test_2016_flickr_bleu_lc_beam1"}
    assert after["test_2016_flickr_bleu_beam1"] == pytest.approx(result.metrics["test_2016_flickr_bleu_beam1"])
    assert {k: after[k] for k in before if not k.startswith("system/")} == {
        k: v for k, v in before.items() if not k.startswith("system/")
    }


@pytest.mark.subprocess
def test_the_command_line_against_a_tracking_server_prints_figures_without_mlflow_link_lines(server_run):
    import os
    import subprocess
    import sys

    uri, result = server_run
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnops.cli",
            "evaluate",
            result.run_id,
            "--split",
            "test_2016_flickr",
            "--beam-size",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    assert "test_2016_flickr_bleu_beam1:" in shown.stdout
    assert "View run" not in shown.stdout + shown.stderr

"""``attnops train --workers 2``: DDP on Ray Train (gloo on CPU), one MLflow run, restart from a checkpoint."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import ray.cloudpickle

from attnops.cli import main
from attnops.models.translation import TranslationModule
from attnops.pipelines import tracking
from attnops.pipelines.config import REPO_ROOT, TrainConfig, load_config
from attnops.pipelines.distributed import fit_on_ray
from attnops.pipelines.translation.batching import make_loader
from attnops.pipelines.translation.metrics import bleu_metric
from attnops.pipelines.translation.train import _pairs

pytestmark = pytest.mark.slow

CONFIG = REPO_ROOT / "pipelines/configs/translation/demo.yaml"
EPOCHS = 3
TINY = [
    "data.max_train_examples=1000",
    "data.max_eval_examples=16",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=24",
    f"train.max_epochs={EPOCHS}",
    "train.early_stopping_patience=0",
    "train.eval_beam_size=1",
    "train.max_decode_length=16",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
    "tracking.experiment=distributed",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('distributed') / 'mlflow.db'}"


def _train(store: str, *extra: str) -> str:
    """``attnops train`` on the tiny config; returns the run id (the last line printed)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", store)
        env.delenv("RAY_ADDRESS", raising=False)
        assert main(["train", str(CONFIG), *extra, *[a for item in TINY for a in ("--set", item)]]) == 0
    from mlflow import MlflowClient

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("distributed").experiment_id
    return client.search_runs([experiment], order_by=["start_time DESC"])[0].info.run_id


@pytest.fixture(scope="module")
def runs(store) -> dict[str, str]:
    return {"single": _train(store), "ddp": _train(store, "--workers", "2")}


def _curve(client, run_id: str, metric: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, metric)]


def test_two_workers_log_one_run_with_each_epoch_metric_once(runs, store):
    from mlflow import MlflowClient

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("distributed").experiment_id
    assert len(client.search_runs([experiment])) == 2  # one per training, none per worker
    run = client.get_run(runs["ddp"])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.workers"] == "2" and run.data.params["train.ddp_backend"] == "gloo"
    for metric in ("train_loss_epoch", "val_loss", "val_bleu", "lr"):
        assert [step for step, _ in _curve(client, runs["ddp"], metric)] == list(range(EPOCHS)), metric
    assert "test_2016_flickr_bleu" in run.data.metrics  # the driver evaluates the best checkpoint as usual


def test_ranks_hold_identical_parameters(runs, store):
    from mlflow import MlflowClient

    assert MlflowClient(store).get_run(runs["ddp"]).data.metrics["ddp_parameter_divergence"] == 0.0


def test_val_loss_falls_like_the_single_process_curve(runs, store, capsys):
    from mlflow import MlflowClient

    client = MlflowClient(store)
    single, ddp = (_curve(client, runs[key], "val_loss") for key in ("single", "ddp"))
    with capsys.disabled():
        print("\nval_loss per epoch, 1 process:", [f"{v:.3f}" for _, v in single])
        print("val_loss per epoch, 2 workers:", [f"{v:.3f}" for _, v in ddp])
    assert ddp[-1][1] < ddp[0][1] and single[-1][1] < single[0][1]
    # Each rank takes half of every batch: the same steps on the same effective batch, so the curves agree
    # up to the ranks' own dropout masks and the split of each batch's mean loss.
    assert abs(ddp[-1][1] - single[-1][1]) < 0.02 * single[-1][1]


class _FailOnce(TranslationModule):
    """Kills rank 1's process during epoch 1, once (a marker file records that it happened); it waits a few
    seconds first, so Ray Train has taken in epoch 0's checkpoint."""

    marker: str = ""

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        if self.current_epoch == 1 and batch_idx == 2 and self.global_rank == 1 and not os.path.exists(self.marker):
            Path(self.marker).touch()
            time.sleep(15)
            os._exit(1)


def test_a_killed_worker_restarts_from_the_last_checkpoint(tmp_path, multi30k, codec, monkeypatch):
    import sys

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # Ray serializes with its own cloudpickle; workers cannot import the tests package.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    config = load_config(CONFIG, TINY)
    module = _FailOnce(
        config.model,
        config.train.optim,
        codec.source.get_vocab_size(),
        codec.target.get_vocab_size(),
        codec.special,
        text_metric=bleu_metric(codec),
        val_max_length=16,
    )
    module.marker = str(tmp_path / "killed")
    train = make_loader(_pairs(codec, multi30k["train"]), 64, True, codec.special)
    val = make_loader(_pairs(codec, multi30k["val"]), 64, False, codec.special)
    train_config = TrainConfig(max_epochs=2, early_stopping_patience=0, workers=2)
    with tracking.start_run("distributed-restart", None, False) as run_id:
        best = fit_on_ray(module, train, val, train_config, "val_loss", "min", tmp_path)
    assert (tmp_path / "killed").exists() and best.is_file()
    from mlflow import MlflowClient

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_run(run_id).data.params["train.resumed_from_checkpoint"] == "True"
    assert [step for step, _ in _curve(client, run_id, "val_loss")] == [0, 1]

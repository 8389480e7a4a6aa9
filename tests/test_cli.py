"""The ``attnops`` command line: help, and one-line errors with a non-zero exit that change nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from attnops.pipelines.config import REPO_ROOT

DEMO = str(REPO_ROOT / "pipelines/configs/translation/demo.yaml")


def attnops(*args: str, env_overrides: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(env_overrides or {})}
    return subprocess.run(
        [sys.executable, "-m", "attnops.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_help_lists_the_commands():
    result = attnops("--help")
    assert result.returncode == 0
    assert "train" in result.stdout and "evaluate" in result.stdout
    train_help = attnops("train", "--help").stdout
    assert "--set KEY=VALUE" in train_help and "train.max_epochs" in train_help


@pytest.fixture
def existing_run():
    """A store that already holds one finished run; bad commands must leave it untouched."""
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("attnops-demo")
    with mlflow.start_run() as run:
        mlflow.log_param("kept", "yes")
        mlflow.log_metric("bleu", 1.0)
    return run.info.run_id


def _snapshot():
    import mlflow

    runs = mlflow.search_runs(search_all_experiments=True)
    return sorted(map(tuple, runs[["run_id", "status", "metrics.bleu"]].astype(str).values.tolist()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "missing.yaml"], "config file not found: missing.yaml"),
        (["train", DEMO, "--set", "model.attention=cosine"], "choose one of: dot, general, additive"),
        (["train", DEMO, "--set", "train.epochs=3"], "train.epochs: unknown key"),
        (["train", DEMO, "--set", "train.batch_size=big"], "train.batch_size: Input should be a valid integer"),
        (["train", DEMO, "--set", "data.root=/nonexistent"], "run `attnops data fetch multi30k`"),
        (["train"], "give an experiment config (or --resume RUN_ID)"),
        (["train", DEMO, "--resume", "0123456789abcdef0123456789abcdef"], "give no config, --set or --workers"),
        (
            ["train", "--resume", "0123456789abcdef0123456789abcdef"],
            "unknown run id '0123456789abcdef0123456789abcdef'",
        ),
        (["runs", "--experiment", "no-such-experiment"], "unknown experiment 'no-such-experiment'"),
        (["evaluate", "0123456789abcdef0123456789abcdef"], "unknown run id '0123456789abcdef0123456789abcdef'"),
        (["evaluate", "x", "--split", "test_2099"], "unknown split 'test_2099'"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_changes_nothing(args, message, existing_run):
    before = _snapshot()
    result = attnops(*args)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("attnops: error: ") and message in last
    assert "Traceback" not in result.stderr
    assert _snapshot() == before


def test_evaluate_of_a_run_without_a_checkpoint_says_so(existing_run):
    result = attnops("evaluate", existing_run)
    assert result.returncode == 2
    assert f"run {existing_run} has no artifact 'config.yaml'" in result.stderr


def test_export_of_a_run_without_a_checkpoint_says_so_and_tags_nothing(existing_run, capsys):
    import mlflow

    from attnops.cli import main

    assert main(["export", existing_run]) == 2
    assert f"run {existing_run} has no artifact" in capsys.readouterr().err
    assert not any(key.startswith("attnops.") for key in mlflow.get_run(existing_run).data.tags)


def test_translate_needs_a_sentence(capsys):
    from attnops.cli import main

    assert main(["translate", "--model", "models:/any@champion", " "]) == 2
    assert "give at least one non-empty sentence" in capsys.readouterr().err


def test_serve_with_a_missing_config_says_so(capsys):
    from attnops.cli import main

    assert main(["serve", "--config", "missing.yaml"]) == 2
    assert "serve config not found: missing.yaml" in capsys.readouterr().err


def test_train_and_export_show_no_library_noise(tmp_path):
    """What a person reads carries no library tips, deprecations or exporter notes (Python or C++ level)."""
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'noise.db'}"}
    tiny = ["data.max_train_examples=64", "data.max_eval_examples=8", "data.tokenizer.vocab_size=200"]
    tiny += ["model.hidden_size=16", "model.embedding_dim=8", "train.max_epochs=1", "tracking.system_metrics=false"]
    train = attnops("train", DEMO, *[a for item in tiny for a in ("--set", item)], env_overrides=env)
    assert train.returncode == 0, train.stderr
    export = attnops("export", train.stdout.strip().splitlines()[-1], env_overrides=env)
    assert export.returncode == 0, export.stderr
    said = train.stdout + train.stderr + export.stdout + export.stderr
    for noise in ("Tip:", "litlogger", "deprecated", "Warning:", "[W", "GPU available"):
        assert noise not in said, noise

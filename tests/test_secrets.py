"""The API token and tracking-server passwords never reach MLflow params, tags, artifacts, logs or errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnops.cli import main
from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.redact import MASK, RedactingFilter, redact

TOKEN = "tok-3f9a1c7e5b2d4a68"
PASSWORD = "pw-8c1e6b0d2f4a9e37"
TINY = [
    "data.max_train_examples=300",
    "data.max_eval_examples=6",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=24",
    "train.max_steps=2",
    "train.eval_beam_size=1",
    "train.max_decode_length=8",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
]


def test_redact_masks_url_passwords_and_secret_values(monkeypatch):
    monkeypatch.setenv("ATTNOPS_API_TOKEN", TOKEN)
    text = f"at postgresql://admin:{PASSWORD}@db:5432/mlflow and http://u:{PASSWORD}@h/x, bearer {TOKEN}"
    clean = redact(text)
    assert PASSWORD not in clean and TOKEN not in clean and "admin" not in clean
    assert f"postgresql://{MASK}@db:5432/mlflow" in clean and "http://***@h/x" in clean
    assert redact("http://127.0.0.1:5000/#/experiments/1") == "http://127.0.0.1:5000/#/experiments/1"


def test_the_log_filter_masks_messages_arguments_and_tracebacks(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTNOPS_API_TOKEN", TOKEN)
    handler = logging.FileHandler(tmp_path / "log.txt")
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("attnops-secrets-test")
    logger.addHandler(handler)
    try:
        logger.warning("token %s at %s", TOKEN, f"http://a:{PASSWORD}@host")
        try:
            raise RuntimeError(f"cannot reach https://a:{PASSWORD}@host")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    written = (tmp_path / "log.txt").read_text()
    assert f"token {MASK} at http://{MASK}@host" in written
    assert f"RuntimeError: cannot reach https://{MASK}@host" in written
    assert TOKEN not in written and PASSWORD not in written


def _strings(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_run_tracked_through_a_password_url_keeps_both_secrets_out(mlflow_server, monkeypatch, capfd, tmp_path):
    from mlflow import MlflowClient

    secret_uri = mlflow_server.replace("http://", f"http://attnops:{PASSWORD}@")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", secret_uri)
    monkeypatch.setenv("ATTNOPS_API_TOKEN", TOKEN)
    config = str(REPO_ROOT / "pipelines/configs/translation/demo.yaml")
    assert main(["train", config, *[arg for item in TINY for arg in ("--set", item)]]) == 0
    assert main(["translate", "--model", "runs:/0123456789abcdef0123456789abcdef", "Hallo"]) == 2
    out, err = capfd.readouterr()
    run_id = out.strip().splitlines()[-1]
    assert "unknown run id" in err and f"http://{MASK}@" in err

    client = MlflowClient(mlflow_server)
    run = client.get_run(run_id)
    seen = "\n".join([*map(str, run.data.params.items()),
                      *map(str, run.data.tags.items()), *run.data.metrics])  # fmt: skip
    seen += _strings(Path(client.download_artifacts(run_id, "", str(tmp_path))))
    for where, text in {"MLflow params, tags, metrics and artifacts": seen, "stdout and stderr": out + err}.items():
        assert TOKEN not in text, f"the API token is in {where}"
        assert PASSWORD not in text, f"the tracking password is in {where}"


def test_an_uncaught_exception_prints_its_traceback_without_secrets(tmp_path):
    """A crash outside the CLI's own error handling still masks the Ray token and URL passwords."""
    script = tmp_path / "crash.py"
    script.write_text(
        "from attnops.pipelines.redact import redact_uncaught\n"
        "redact_uncaught()\n"
        "raise RuntimeError('cannot reach postgresql://mlflow:hunter2@db:5432/mlflow with ray-secret-token')\n"
    )
    env = {**os.environ, "RAY_AUTH_TOKEN": "ray-secret-token", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "RuntimeError: cannot reach" in done.stderr and "Traceback" in done.stderr
    assert "hunter2" not in done.stderr and "ray-secret-token" not in done.stderr
    assert f"postgresql://{MASK}@db:5432/mlflow with {MASK}" in done.stderr

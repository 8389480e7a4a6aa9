"""AESLC end to end: a tiny pointer-generator run on the real corpus → export with parity → registry → predict,
the CLI, and the Ray Serve app on 127.0.0.1 serving /v1/summarize in both modes (with a tiny extractive model)."""

from __future__ import annotations

import asyncio

import httpx
import mlflow
import pandas as pd
import pytest

from attnops.cli import main
from attnops.pipelines.predict import predict
from attnops.pipelines.registry import promote, register

pytestmark = [pytest.mark.slow, pytest.mark.ray]

MAX_BYTES = 5_000
ABSTRACTIVE, EXTRACTIVE = "aeslc-it", "extractive-it"
EMAIL = (
    "Greg, Attached is the Grandecommunications service agreement for Bishops Corner.\n"
    "Please sign it and send it back to Hunter Williams by Friday.\nThanks, Phillip"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models, ray_serve):
    """The tiny pointer-generator (exported with INT8 graphs) and extractive summarizer, registered, promoted and
    served in both modes on the shared Ray."""
    root = tmp_path_factory.mktemp("abstractive")
    tracking_uri, trained = tiny_models.copy(root, "abstractive", "summarization")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.chdir(root)
        abstractive, extractive = trained["abstractive"], trained["summarization"]
        promote(ABSTRACTIVE, str(register(abstractive.run_id, ABSTRACTIVE).version))
        promote(EXTRACTIVE, str(register(extractive.run_id, EXTRACTIVE).version))
        limits = {"max_document_bytes": MAX_BYTES, "batch_wait_timeout_s": 0.1}
        cpu = {"ray_actor_options": {"num_cpus": 1}}
        options = {
            "Gateway": {"ray_actor_options": {"num_cpus": 0}},
            "Summarizer": {**cpu, "user_config": {"model_uri": f"models:/{EXTRACTIVE}@champion", **limits}},
            "AbstractiveSummarizer": {**cpu, "user_config": {"model_uri": f"models:/{ABSTRACTIVE}@champion", **limits}},
        }
        tasks = ("summarization", "abstractive")
        with ray_serve.deployed(options, tasks, {"MLFLOW_TRACKING_URI": tracking_uri}) as url:
            yield {"url": url, "tracking_uri": tracking_uri, "run": abstractive.run, "export": abstractive.export}


@pytest.fixture
def service(app, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", app["tracking_uri"])
    return app


def _post(app, body) -> httpx.Response:
    return httpx.post(f"{app['url']}/v1/summarize", json=body, timeout=120)


def test_run_logs_rouge_baselines_copy_share_examples_and_heatmaps(service):
    run = service["run"]
    metrics = mlflow.MlflowClient().get_run(run.run_id).data.metrics
    for prefix in ("test", "test_lead1", "test_lead6words", "test_oracle"):
        for name in ("rouge1", "rouge2", "rougeL", "rouge1_multi", "rouge2_multi", "rougeL_multi"):
            assert 0.0 <= metrics[f"{prefix}_{name}"] <= 100.0, (prefix, name)
    assert 0.0 <= metrics["test_oov_copy_share"] <= 1.0 and 0.0 <= metrics["test_mean_copy_probability"] <= 1.0
    assert metrics["train_seconds"] > 0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.run_id, "attention")}
    assert {"attention/test_000.png", "attention/test_001.png"} <= artifacts
    samples = mlflow.artifacts.load_text(f"runs:/{run.run_id}/samples/summaries.txt")
    assert samples.count("COPY: ") == 2 and "REF: " in samples


def test_export_passes_parity_and_reports_the_int8_rouge_drop(service):
    exported = service["export"]
    parity = exported.bundle.manifest.parity
    assert parity.passed and parity.greedy_sentences == 24
    assert "int8_rougeL_drop" in exported.metrics
    assert ("int8" in exported.bundle.manifest.precisions) == (exported.metrics["int8_rougeL_drop"] <= 0.5)


def test_predict_through_the_registry(service):
    frame = predict(f"models:/{ABSTRACTIVE}@champion", pd.DataFrame({"text": [EMAIL, "Lunch on Friday?"]}))
    assert list(frame.columns) == ["summary"] and len(frame) == 2


def test_cli_summarizes_with_both_kinds_and_refuses_bad_input(service, capsys):
    assert main(["summarize", "--model", f"models:/{ABSTRACTIVE}@champion", "--show-copy", EMAIL]) == 0
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 1 and "(" in out.err  # words with their copy probability
    assert main(["summarize", "--model", f"models:/{EXTRACTIVE}@champion", "One story. Two stories."]) == 0
    assert main(["summarize", "--model", f"models:/{ABSTRACTIVE}@champion", "  \n "]) == 2
    assert "non-empty document" in capsys.readouterr().err
    assert main(["summarize", "--model", f"models:/{EXTRACTIVE}@champion", "--beam-size", "2", "Text."]) == 2
    assert "abstractive models only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["summarize", "--model", f"models:/{ABSTRACTIVE}@champion", "--beam-size", "0", EMAIL])
    assert exit_info.value.code == 2


def test_abstractive_mode_over_http_with_copy_and_attention(service):
    response = _post(service, {"text": EMAIL, "mode": "abstractive", "return_attention": True, "beam_size": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "abstractive" and body["model"]["name"] == ABSTRACTIVE and body["sentences"] == []
    assert [w["word"] for w in body["words"]] == body["alignment"]["target_tokens"][: len(body["words"])]
    assert all(0.0 <= w["copy_probability"] <= 1.0 for w in body["words"])
    for row in body["alignment"]["weights"]:
        assert len(row) == len(body["alignment"]["source_tokens"]) and sum(row) == pytest.approx(1.0, abs=1e-4)
    plain = _post(service, {"text": EMAIL, "mode": "abstractive"}).json()
    assert "words" not in plain and "alignment" not in plain and plain["truncated"] is False
    assert _post(service, {"text": EMAIL + " more words" * 40, "mode": "abstractive"}).json()["truncated"] is True


def test_extractive_stays_the_default(service):
    for body in ({"text": EMAIL, "max_sentences": 2}, {"text": EMAIL, "mode": "extractive", "max_sentences": 2}):
        answer = _post(service, body).json()
        assert answer["mode"] == "extractive" and answer["model"]["name"] == EXTRACTIVE
        assert 1 <= len(answer["sentences"]) <= 2


def test_concurrent_abstractive_requests_form_batches(service):
    async def burst():
        async with httpx.AsyncClient(timeout=120) as client:
            bodies = [{"text": f"{EMAIL} Meeting number {n}.", "mode": "abstractive"} for n in range(10)]
            return await asyncio.gather(*(client.post(f"{service['url']}/v1/summarize", json=b) for b in bodies))

    assert [r.status_code for r in asyncio.run(burst())] == [200] * 10
    statuses = httpx.get(f"{service['url']}/v1/models", timeout=30).json()
    (abstractive,) = [s for s in statuses if s["task"] == "abstractive"]
    assert abstractive["largest_batch"] > 1


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ({"text": "", "mode": "abstractive"}, 422, "must not be empty"),
        ({"text": "  \n\t ", "mode": "abstractive"}, 422, "must not be empty"),
        ({"text": 42, "mode": "abstractive"}, 422, "text"),
        ({"text": ["an", "email"], "mode": "abstractive"}, 422, "text"),
        ({"text": "word " * 2000, "mode": "abstractive"}, 413, f"max_document_bytes={MAX_BYTES}"),
        ({"text": EMAIL, "mode": "abstractive", "beam_size": 0}, 422, "beam_size"),
        ({"text": EMAIL, "mode": "abstractive", "beam_size": 9}, 422, "beam_size"),
        ({"text": EMAIL, "mode": "abstractive", "max_length": 0}, 422, "max_length"),
        ({"text": EMAIL, "mode": "abstractive", "max_sentences": 2}, 422, "max_sentences do not apply"),
        ({"text": EMAIL, "beam_size": 2}, 422, "beam_size do not apply"),
        ({"text": EMAIL, "mode": "poetry"}, 422, "mode"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field_and_touches_nothing(service, body, status, fragment):
    client = mlflow.MlflowClient()
    runs_before = len(client.search_runs([e.experiment_id for e in client.search_experiments()]))
    versions_before = len(client.search_model_versions())
    response = _post(service, body)
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == runs_before
    assert len(client.search_model_versions()) == versions_before
    assert _post(service, {"text": EMAIL, "mode": "abstractive"}).status_code == 200  # still serving

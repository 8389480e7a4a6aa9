"""Export → register → promote → rollback against a real ``mlflow server`` process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from attnops.benchmarks.decode import BACKENDS, SEARCHES, bench_decode, format_report
from attnops.cli import main
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.export import export_run
from attnops.pipelines.inference.artifacts import EXPORT_TAG, PARITY_TAG
from attnops.pipelines.inference.resolve import resolve
from attnops.pipelines.registry import list_versions, promote, register, rollback
from attnops.pipelines.registry_lock import is_lock
from attnops.pipelines.train import train

pytestmark = pytest.mark.slow

NAME = "translation-it"
TINY = [
    "data.max_train_examples=2000",
    "data.max_eval_examples=24",
    "data.tokenizer.vocab_size=400",
    "model.embedding_dim=32",
    "model.hidden_size=48",
    "train.batch_size=32",
    "train.eval_beam_size=2",
    "train.max_decode_length=20",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
    "tracking.experiment=registry-integration",
]


def _train(*overrides: str) -> str:
    config_path = REPO_ROOT / "pipelines/configs/translation/demo.yaml"
    return train(load_config(config_path, [*TINY, *overrides])).run_id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def registry_server(request) -> str:
    """The MLflow server of each backend store the registry must work on."""
    return request.getfixturevalue({"sqlite": "mlflow_server", "postgresql": "postgres_mlflow_server"}[request.param])


@pytest.fixture(scope="module")
def runs(registry_server):
    """Three runs on the server: a trained one, a barely trained one, one whose parity bar is impossible."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", registry_server)
        good = _train("train.max_epochs=3")
        weak = _train("train.max_steps=1")
        strict = _train("train.max_steps=1", "export.parity_tolerance=1e-12")
        export_run(good, quantize="int8")
        export_run(weak)
        yield {"good": good, "weak": weak, "strict": strict}


@pytest.fixture(scope="module")
def champion(runs, registry_server) -> str:
    """The trained run registered as NAME and promoted to @champion; yields its version."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", registry_server)
        version = str(register(runs["good"], NAME).version)
        assert promote(NAME, version).previous is None
        yield version


@pytest.fixture
def client(runs, registry_server, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_server)
    return MlflowClient(registry_server)


def _versions(client, name: str) -> list:
    return list(client.search_model_versions(f"name='{name}'"))


def _snapshot(client) -> list:
    """Everything the registry holds: models, aliases, tags, versions and their tags (not the alias locks, which
    stay once made: their version counter must not restart)."""
    return sorted(
        (
            model.name,
            sorted(model.aliases.items()),
            sorted(model.tags.items()),
            sorted(
                (str(v.version), sorted(v.tags.items())) for v in client.search_model_versions(f"name='{model.name}'")
            ),
        )
        for model in client.search_registered_models()
        if not is_lock(model.name)
    )


def _fails(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attnops: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_export_logs_a_servable_mlflow_model_with_its_parity_figures(client, runs):
    import mlflow

    run = client.get_run(runs["good"])
    assert run.data.tags[PARITY_TAG] == "passed"
    assert run.data.metrics["parity_max_abs_logits"] <= 1e-4 and run.data.metrics["parity_greedy_mismatches"] == 0
    assert (
        "onnx_int8_test_2016_flickr_bleu" in run.data.metrics and "onnx_fp32_test_2016_flickr_bleu" in run.data.metrics
    )
    model_uri = run.data.tags[EXPORT_TAG]
    model = mlflow.pyfunc.load_model(model_uri)
    assert [c.name for c in model.metadata.signature.inputs] == ["text"]
    texts = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    out = model.predict(pd.DataFrame({"text": texts}), params={"beam_size": 1})
    assert list(out.columns) == ["translation"] and len(out) == 2


def test_a_second_export_needs_overwrite(client, runs, capsys):
    before = client.get_run(runs["weak"]).data.tags[EXPORT_TAG]
    assert "pass --overwrite" in _fails(capsys, "export", runs["weak"])
    assert client.get_run(runs["weak"]).data.tags[EXPORT_TAG] == before


def test_failed_parity_fails_the_export_and_blocks_registration(client, runs, capsys):
    before = _snapshot(client)
    with pytest.raises(UserError, match=r"parity check failed .* max \|Δlogits\| \S+ \(tolerance 1e-12\)"):
        export_run(runs["strict"])
    tags = client.get_run(runs["strict"]).data.tags
    assert tags[PARITY_TAG] == "failed" and EXPORT_TAG not in tags
    assert "has no ONNX export" in _fails(capsys, "register", runs["strict"], "--name", NAME)
    assert _snapshot(client) == before


def test_register_promote_gate_force_and_rollback(client, runs, champion, capsys):
    metrics = {key: client.get_run(runs[key]).data.metrics["test_2016_flickr_bleu"] for key in ("good", "weak")}
    assert metrics["good"] > metrics["weak"], f"the gate needs a better and a worse model: {metrics}"
    tags = client.get_model_version(NAME, champion).tags
    assert tags["task"] == "translation" and tags["attention"] == "additive" and tags["source_run"] == runs["good"]
    assert float(tags["gate_value"]) == pytest.approx(metrics["good"], abs=1e-4) and tags["parity"] == "passed"
    assert tags["precisions"] == "fp32,int8"
    second = register(runs["weak"], NAME)

    before = _snapshot(client)
    message = _fails(capsys, "promote", NAME, str(second.version))
    assert f"{metrics['weak']:.2f}" in message and f"{metrics['good']:.2f}" in message and "quality gate" in message
    assert _snapshot(client) == before
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == champion

    forced = promote(NAME, str(second.version), force=True)
    assert forced.forced and forced.previous == champion
    assert "forced_champion" in client.get_model_version(NAME, second.version).tags
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == str(second.version)

    assert rollback(NAME).version == champion
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == champion
    rows = {row.version: row for row in list_versions(NAME)}
    assert rows[champion].aliases == ["champion"] and rows[str(second.version)].aliases == []


def test_translate_from_the_champion_alias(client, champion, capsys):
    assert (
        main(["translate", "--model", f"models:/{NAME}@champion", "--show-attention", "Ein Hund.", "Zwei Katzen."]) == 0
    )
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "|" in captured.err and "</s>" in captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["register", "0123456789abcdef0123456789abcdef", "--name", NAME], "unknown run id"),
        (["promote", "no-such-model", "1"], "unknown registered model 'no-such-model'"),
        (["promote", NAME, "99"], "has no version '99'"),
        (["promote", NAME, "1", "--alias", "latest"], "bad alias"),
        (["rollback", "no-such-model"], "unknown registered model"),
        (["translate", "--model", "models:/no-such-model@champion", "hallo"], "unknown registered model"),
        (["translate", "--model", f"models:/{NAME}@nobody", "hallo"], "has no alias @nobody"),
        (["translate", "--model", "runs:/0123456789abcdef0123456789abcdef", "hallo"], "unknown run id"),
        (["translate", "--model", "models:/m-0123456789abcdef0123456789abcdef", "hallo"], "does not resolve"),
        (["models", "no-such-model"], "unknown registered model"),
    ],
)
def test_bad_input_gives_one_line_and_leaves_the_registry_unchanged(client, champion, capsys, argv, message):
    before = _snapshot(client)
    assert message in _fails(capsys, *argv)
    assert _snapshot(client) == before


def test_a_version_without_a_parity_check_cannot_be_promoted(client, runs, capsys):
    model_uri = client.get_run(runs["good"]).data.tags[EXPORT_TAG]
    name = "registered-elsewhere"
    client.create_registered_model(name)  # as if made with MLflow's own tools, without attnops' checks
    model_id = model_uri.removeprefix("models:/")
    version = client.create_model_version(name, source=model_uri, run_id=runs["good"], model_id=model_id).version
    before = _snapshot(client)
    assert "no passing parity check" in _fails(capsys, "promote", name, str(version))
    assert _snapshot(client) == before


def test_bench_decode_times_every_backend_and_quantizes_on_the_fly(client, runs):
    bundle = resolve(f"runs:/{runs['weak']}").bundle
    assert bundle.manifest.precisions == ("fp32",)  # so INT8 graphs are made for the benchmark
    result = bench_decode(bundle, sentences=6, batch_sizes=(1, 4), threads=1)
    assert set(result.ms) == {(b, s, n) for b in BACKENDS for s in SEARCHES for n in (1, 4)}
    assert all(ms > 0 for ms in result.ms.values())
    assert result.bleu["eager"] == result.bleu["ort-fp32"]  # the same search on matching graphs
    report = format_report(result, (1, 4))
    assert "greedy      4" in report and "int8 BLEU drop" in report and "target" not in report

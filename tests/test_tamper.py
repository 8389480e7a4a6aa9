"""A changed or truncated file in an exported bundle is refused by every loader, naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines import tracking
from pipelines.cli import main
from pipelines.config import REPO_ROOT, load_config
from pipelines.export import export_run
from pipelines.inference.artifacts import BUNDLE_ARTIFACT, EXPORT_TAG
from pipelines.inference.bundle import MANIFEST, Manifest
from pipelines.inference.checksums import TamperedBundle, digests, verify
from pipelines.train import train

NAME = "translation-tamper"
TINY = [
    "data.max_train_examples=400",
    "data.max_eval_examples=8",
    "data.tokenizer.vocab_size=300",
    "model.embedding_dim=16",
    "model.hidden_size=24",
    "train.max_steps=2",
    "train.batch_size=32",
    "train.eval_beam_size=1",
    "train.max_decode_length=10",
    "tracking.heatmap_sentences=0",
    "tracking.system_metrics=false",
]


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_verify_names_changed_missing_and_unexpected_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.onnx", "sub/b.json", "c.yaml"):
        (tmp_path / name).write_text(name * 10)
    recorded = digests(tmp_path)
    verify(tmp_path, recorded)
    _truncate(tmp_path / "a.onnx")
    (tmp_path / "sub/b.json").unlink()
    (tmp_path / "extra.onnx").write_text("x")
    with pytest.raises(TamperedBundle) as error:
        verify(tmp_path, recorded)
    assert "a.onnx changed" in str(error.value)
    assert "sub/b.json missing" in str(error.value)
    assert "extra.onnx not in the manifest" in str(error.value)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny exported translation run in a local store; yields (tracking URI, a local copy of its pyfunc model)."""
    root = tmp_path_factory.mktemp("tamper")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        env.chdir(root)
        run_id = train(load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)).run_id
        export_run(run_id)
        model = tracking.download_uri(tracking.run_tags(run_id)[EXPORT_TAG], root / "model")
        yield uri, model


@pytest.fixture
def tampered(exported, tmp_path, monkeypatch):
    """A copy of the exported pyfunc model whose bundle can be changed; yields its bundle folder."""
    uri, model = exported
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    return copy / "artifacts" / BUNDLE_ARTIFACT


def _graph(bundle: Path) -> str:
    manifest = Manifest.model_validate_json((bundle / MANIFEST).read_text())
    assert any(name.endswith(".onnx") for name in manifest.files) and "config.yaml" in manifest.files
    return next(name for name in sorted(manifest.files) if name.endswith(".onnx"))


def test_the_manifest_records_every_bundle_file(tampered):
    manifest = Manifest.model_validate_json((tampered / MANIFEST).read_text())
    assert manifest.files == digests(tampered, exclude=(MANIFEST,))


def test_the_cli_refuses_a_changed_graph_in_a_registered_version(tampered, capsys):
    from mlflow import MlflowClient

    graph = _graph(tampered)
    _flip_last_byte(tampered / graph)
    client = MlflowClient()
    client.create_registered_model(NAME)
    client.create_model_version(NAME, source=tampered.parent.parent.as_uri(), run_id=None)
    capsys.readouterr()
    assert main(["translate", "--model", f"models:/{NAME}/1", "Ein Hund."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnops: error: ") and f"{graph} changed" in err and "refusing to load" in err


def test_pyfunc_refuses_a_truncated_tokenizer(tampered):
    import mlflow.pyfunc

    tokenizer = next(name for name in sorted(Manifest.model_validate_json((tampered / MANIFEST).read_text()).files)
                     if name.startswith("tokenizer/"))  # fmt: skip
    _truncate(tampered / tokenizer)
    with pytest.raises(TamperedBundle, match=f"{tokenizer} changed"):
        mlflow.pyfunc.load_model(str(tampered.parent.parent))


def test_pyfunc_loads_the_untouched_copy(tampered):
    import mlflow.pyfunc

    assert mlflow.pyfunc.load_model(str(tampered.parent.parent)) is not None


def test_an_export_from_before_checksums_still_loads_with_a_warning(tampered, caplog):
    from pipelines.inference.bundle import load_bundle

    manifest = Manifest.model_validate_json((tampered / MANIFEST).read_text())
    (tampered / MANIFEST).write_text(manifest.model_dump_json(exclude={"files"}))
    assert load_bundle(tampered).manifest.files == {}
    assert "records no checksums" in caplog.text

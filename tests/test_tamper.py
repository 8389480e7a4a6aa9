"""A changed or truncated file in an exported bundle is refused by every loader, naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from attnops.cli import main
from attnops.pipelines import tracking
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.export import export_run
from attnops.pipelines.inference.artifacts import BUNDLE_ARTIFACT, DIGEST_TAG, EXPORT_TAG
from attnops.pipelines.inference.bundle import MANIFEST, Manifest
from attnops.pipelines.inference.checksums import TamperedBundle, digests, verify
from attnops.pipelines.inference.resolve import resolve, version_cache
from attnops.pipelines.registry import register
from attnops.pipelines.train import train

NAME = "translation-tamper"
REGISTERED = "translation-tamper-registered"
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


def test_an_empty_manifest_is_refused(tampered):
    from attnops.pipelines.inference.bundle import load_bundle

    manifest = Manifest.model_validate_json((tampered / MANIFEST).read_text())
    (tampered / MANIFEST).write_text(manifest.model_dump_json(exclude={"files"}))
    with pytest.raises(TamperedBundle, match="records no checksums"):
        load_bundle(tampered)


@pytest.fixture(scope="module")
def registered(exported):
    """The export registered as REGISTERED version 1 (its model digest recorded); yields its tags."""
    uri, _ = exported
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        run_id = tracking.search_runs(None)[0].info.run_id
        yield dict(register(run_id, REGISTERED).tags)


def _rewrite_in_place(bundle: Path) -> str:
    """Change a graph and rewrite the manifest so every file matches it again; return the graph's name."""
    graph = _graph(bundle)
    _flip_last_byte(bundle / graph)
    manifest = Manifest.model_validate_json((bundle / MANIFEST).read_text())
    files = {**manifest.files, graph: digests(bundle, exclude=(MANIFEST,))[graph]}
    (bundle / MANIFEST).write_text(manifest.model_copy(update={"files": files}).model_dump_json(indent=2))
    verify(bundle, files, exclude=(MANIFEST,))  # the bundle's own checks pass
    return graph


def _as_version(folder: Path, tags: dict[str, str]) -> str:
    """Register ``folder`` with ``tags`` copied from version 1, as if version 1's files were rewritten in place."""
    from mlflow import MlflowClient

    return str(MlflowClient().create_model_version(REGISTERED, source=folder.as_uri(), run_id=None, tags=tags).version)


def test_the_registered_version_loads_and_records_its_digest(registered, tampered):  # tampered: its store
    assert len(registered[DIGEST_TAG]) == 64
    assert resolve(f"models:/{REGISTERED}/1").version == "1"


def test_a_rewritten_manifest_with_matching_hashes_is_refused_by_the_registered_digest(registered, tampered, capsys):
    _rewrite_in_place(tampered)
    version = _as_version(tampered.parent.parent, registered)
    with pytest.raises(TamperedBundle, match=f"{DIGEST_TAG} mismatch"):
        resolve(f"models:/{REGISTERED}/{version}")
    capsys.readouterr()
    assert main(["translate", "--model", f"models:/{REGISTERED}/{version}", "Ein Hund."]) == 2
    err = capsys.readouterr().err
    print("\n" + err)
    assert err.startswith("attnops: error: ") and f"{DIGEST_TAG} mismatch" in err


@pytest.mark.parametrize("name", ["MLmodel", "pyfunc.py", "requirements.txt"])
def test_a_changed_mlflow_model_file_is_refused_by_the_registered_digest(registered, tampered, name):
    target = tampered.parent.parent / name  # pyfunc.py: the models-from-code script MLflow runs
    target.write_text(target.read_text() + "\n# changed\n")
    version = _as_version(tampered.parent.parent, registered)
    with pytest.raises(TamperedBundle, match=f"{DIGEST_TAG} mismatch"):
        resolve(f"models:/{REGISTERED}/{version}")


def test_a_version_without_a_recorded_digest_is_refused(registered, tampered):
    version = _as_version(tampered.parent.parent, {k: v for k, v in registered.items() if k != DIGEST_TAG})
    with pytest.raises(TamperedBundle, match=f"records no {DIGEST_TAG}"):
        resolve(f"models:/{REGISTERED}/{version}")


@pytest.fixture
def downloads(monkeypatch) -> list[str]:
    """The URIs downloaded from the store, in order (the real download runs)."""
    from attnops.pipelines.inference import resolve as resolve_module

    seen, real = [], resolve_module.tracking.download_uri

    def counted(uri, destination=None):
        seen.append(uri)
        return real(uri, destination)

    monkeypatch.setattr(resolve_module.tracking, "download_uri", counted)
    return seen


def test_a_registered_version_is_downloaded_once_and_kept_by_version(registered, tampered, downloads, tmp_path):
    first, second = resolve(f"models:/{REGISTERED}/1"), resolve(f"models:/{REGISTERED}/1")
    assert first.bundle.folder == second.bundle.folder == version_cache(REGISTERED, "1") / "artifacts" / "bundle"
    assert len(downloads) <= 1  # none if an earlier test of this module already fetched it


def test_a_refused_version_leaves_nothing_behind_and_is_retried_only_after_its_back_off(
    registered, tampered, downloads
):
    from mlflow import MlflowClient

    from attnops.serving.translation_replica import TranslationReplica

    client = MlflowClient()
    client.set_registered_model_alias(REGISTERED, "serving", "1")
    replica = TranslationReplica.func_or_class()
    replica.reconfigure({"model_uri": f"models:/{REGISTERED}@serving", "poll_interval_s": 0})
    replica.settings = replica.settings.model_copy(update={"poll_interval_s": 30})  # no poller thread, a back-off
    _rewrite_in_place(tampered)
    bad = _as_version(tampered.parent.parent, registered)
    client.set_registered_model_alias(REGISTERED, "serving", bad)
    before = len(downloads)
    status = replica.reload(backoff=True)
    assert "TamperedBundle" in status.last_error and status.model.version == "1"
    assert len(downloads) == before + 1 and not version_cache(REGISTERED, bad).exists()
    assert not any(version_cache(REGISTERED, bad).parent.glob(f".{bad}-*"))  # no partial download either
    replica.reload(backoff=True)  # the poller, within the back-off: no download
    assert len(downloads) == before + 1
    replica.reload()  # an explicit reload tries at once
    assert len(downloads) == before + 2 and replica.status().model.version == "1"

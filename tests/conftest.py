"""Shared fixtures: real Multi30k data, tiny models, an isolated MLflow store, a real MLflow server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
import torch

from attnops.models.config import Seq2SeqConfig, TransformerConfig
from attnops.pipelines.translation.config import DataConfig, TokenizerConfig
from attnops.pipelines.translation.data import ParallelSplit, load_corpus
from attnops.pipelines.translation.tokenizer import TextCodec
from attnops.serving.server import free_port
from tests.mlflow_server import running_mlflow_server

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if SHARED_DATA.is_dir():  # the shared copy beside the repository, as the Makefile and .ci/run set it
    os.environ.setdefault("ATTNOPS_DATA_DIR", str(SHARED_DATA))
# A data set a test lacks is "fetched" from a closed loopback port: refused at once, nothing leaves the machine.
os.environ.setdefault("ATTNOPS_DATA_BASE_URL", "http://127.0.0.1:9")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


SERVER_FIXTURES = {
    "mlflow_server": ("mlflow_server", "slow"),
    "postgres_mlflow_server": ("postgres", "mlflow_server", "slow"),
    "tiny_models": ("slow",),
    "ray_serve": ("ray", "slow"),
}
"""Markers a test gets from the session fixtures it uses, so `-m` selects by what a test needs."""


SHARED_RAY = "ray_serve"
"""The session fixture of the one shared Ray instance."""

RAY_DRIVERS = "ray-drivers"
"""The worker group (:mod:`tests.worker_groups`) of the modules that drive Ray from the test process or share the
tiny models: `make test` runs them one after another on one worker while the other workers take the rest."""


def pytest_configure(config: pytest.Config) -> None:
    if (
        config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses", None)
        and not hasattr(config, "workerinput")
    ):
        from tests.worker_groups import Controller

        config.pluginmanager.register(Controller(), "attnops-worker-groups")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, markers in SERVER_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                for marker in markers:
                    item.add_marker(marker)
    # A process holds one Ray: the modules that start their own (Train, Data, Serve) run before those on the
    # shared instance, which lives to the session's end. A module starting Ray only in processes of its own
    # (`subprocess`) runs on any worker.
    shared = {item.path for item in items if SHARED_RAY in getattr(item, "fixturenames", ())}
    drivers = {
        item.path
        for item in items
        if "tiny_models" in getattr(item, "fixturenames", ())
        or (item.get_closest_marker("ray") and not item.get_closest_marker("subprocess"))
    } | shared
    items.sort(key=lambda item: (item.path not in drivers, item.path in shared))
    from tests.worker_groups import announce, module_of  # announces only in an xdist worker

    announce({module_of(item.nodeid): RAY_DRIVERS for item in items if item.path in drivers})


def tiny_model_config(**overrides) -> Seq2SeqConfig:
    """A model small enough for unit tests (dropout off so outputs are deterministic)."""
    settings = dict(embedding_dim=16, hidden_size=24, num_heads=2, dropout=0.0)
    return Seq2SeqConfig(**{**settings, **overrides})


def tiny_transformer_config(**overrides) -> TransformerConfig:
    """A Transformer small enough for unit tests (dropout off so outputs are deterministic)."""
    settings = dict(d_model=16, num_heads=2, encoder_layers=2, decoder_layers=2, ff_size=32, dropout=0.0)
    return TransformerConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def multi30k() -> dict[str, ParallelSplit]:
    """The real local Multi30k copy, first 2,000 training pairs and 50 of each other split."""
    return load_corpus(DataConfig(max_train_examples=2000, max_eval_examples=50))


@pytest.fixture(scope="session")
def codec(multi30k) -> TextCodec:
    train = multi30k["train"]
    return TextCodec.train(train.sources, train.targets, TokenizerConfig(vocab_size=400))


@pytest.fixture(scope="session")
def new_store(tmp_path_factory) -> Callable[[Path], str]:
    """Makes a fresh MLflow SQLite store in a folder and returns its URI.

    MLflow's migrations take seconds for each new store, so they run once, into a template with no experiment,
    and each store is a copy of it: the Default experiment is made on first use, its artifacts under the
    working folder as in a store MLflow made itself.
    """
    import sqlite3

    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    template = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    SqlAlchemyStore(f"sqlite:///{template}", str(template.parent / "artifacts")).engine.dispose()
    with closing(sqlite3.connect(template)) as db, db:
        db.execute("DELETE FROM experiment_tags")
        db.execute("DELETE FROM experiments")

    def make(folder: Path) -> str:
        shutil.copyfile(template, folder / "mlflow.db")
        return f"sqlite:///{folder / 'mlflow.db'}"

    return make


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, new_store):
    """One tiny trained and exported model per task (:mod:`tests.tiny_models`), each trained on first use;
    ``.copy(folder, *tasks)`` makes a module's own store holding them."""
    from tests.tiny_models import TinyModels

    return TinyModels(tmp_path_factory.mktemp("tiny-models"), new_store)


@pytest.fixture(scope="session")
def ray_serve():
    """Ray and Serve started once for the modules that deploy the app (``ray_serve.deployed(...)``)."""
    from tests.serve_instance import serve_instance

    with serve_instance() as instance:
        yield instance


@pytest.fixture(autouse=True)
def _isolated_tracking(tmp_path, monkeypatch, new_store):
    """Every test tracks into its own SQLite store (and run folder) unless it sets MLFLOW_TRACKING_URI itself."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", new_store(tmp_path))
    monkeypatch.setenv("ATTNOPS_HOME", str(tmp_path / "attnops-home"))  # run state folders
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny models: threads only add overhead, and CI has 2 cores


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    """A real ``mlflow server`` process on a free loopback port; yields its URI."""
    root = tmp_path_factory.mktemp("mlflow-server")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    args = ["--backend-store-uri", f"sqlite:///{root / 'store.db'}", "--artifacts-destination", str(root / "artifacts")]
    with running_mlflow_server(root, args, env) as uri:
        yield uri


@pytest.fixture(scope="session")
def postgres_mlflow_server(tmp_path_factory) -> str:
    """A real ``mlflow server`` on a fresh PostgreSQL database (MLflow creates its schema), dropped afterwards.

    PostgreSQL comes from $ATTNOPS_POSTGRES_URI (default the machine's, 127.0.0.1:5432, trust auth).
    """
    import uuid

    from attnops.infra.stack import (
        DEFAULT_POSTGRES,
        POSTGRES_ENV,
        create_database,
        drop_database,
        start_mlflow,
        stop_tree,
    )

    admin = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES
    database = f"attnops_test_{uuid.uuid4().hex[:12]}"
    backend = create_database(admin, database)
    root = tmp_path_factory.mktemp("mlflow-postgres")
    try:
        server = start_mlflow(backend, root / "artifacts", root / "server.log", free_port(), workers=2)
        try:
            yield f"http://127.0.0.1:{server.args[server.args.index('--port') + 1]}"
        finally:
            stop_tree(server.pid)
    finally:
        drop_database(admin, database)

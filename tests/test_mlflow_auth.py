"""MLflow behind its basic-auth app with the cluster's settings (infra/mlflow-auth.ini): a real ``mlflow server``
refuses anonymous and wrong credentials, admits the admin from the environment, keeps /health open."""

from __future__ import annotations

import os

import httpx
import pytest

from attnops.pipelines.config import REPO_ROOT
from tests.mlflow_server import running_mlflow_server

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "generated-admin-password-123"
SEARCH = "/api/2.0/mlflow/registered-models/search"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-auth")
    ini = (REPO_ROOT / "infra/mlflow-auth.ini").read_text()
    (root / "basic_auth.ini").write_text(ini.replace("sqlite:////mlauth/", f"sqlite:///{root}/"))
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{root / 'store.db'}",  # as the manifests pass it
        "MLFLOW_AUTH_CONFIG_PATH": str(root / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "generated-flask-secret",
    }
    args = ["--app-name", "basic-auth", "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts"]
    with running_mlflow_server(root, args, env) as url:
        yield url


def test_anonymous_and_wrong_credentials_are_refused_and_the_admin_is_admitted(server):
    with httpx.Client(base_url=server, timeout=120) as client:  # password hashing is slow on a busy machine
        assert client.get(SEARCH).status_code == 401
        assert client.get(SEARCH, auth=("admin", "wrong")).status_code == 401
        assert client.get(SEARCH, auth=("admin", ADMIN_PASSWORD)).status_code == 200
        assert client.get("/health").status_code == 200  # the probes stay open


def test_the_registry_client_signs_in_from_the_environment(server, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    MlflowClient(server).create_registered_model("auth-check")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(MlflowException):
        MlflowClient(server).set_registered_model_alias("auth-check", "champion", "1")

"""The cluster's Secrets, generated fresh for each cluster and never committed.

``attnops stack secrets | kubectl apply -f -`` creates them once; the manifests in ``infra/k8s/`` only
refer to them by name (:data:`SECRET_NAMES`).
"""

from __future__ import annotations

import secrets
from typing import Any

import yaml

DB_SECRET = "mlflow-db"
"""PostgreSQL's user and password, and MLflow's backend store URI with them."""
MLFLOW_ADMIN_SECRET = "mlflow-admin"
"""MLflow's basic-auth admin: the server creates it on first start; the Ray pods sign in with it."""
RAY_TOKEN_SECRET = "attnops-ray-token"
"""Ray's token authentication: every node, ``serve deploy`` and job submission present it."""
API_TOKEN_SECRET = "attnops-api-token"
"""The REST service's bearer token (``ATTNOPS_API_TOKEN``)."""
SECRET_NAMES = (DB_SECRET, MLFLOW_ADMIN_SECRET, RAY_TOKEN_SECRET, API_TOKEN_SECRET)
MLFLOW_ADMIN = "admin"


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "stringData": data}


def generate() -> list[dict[str, Any]]:
    """Every Secret the manifests refer to, with new random values."""
    db_password, admin_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    return [
        _secret(
            DB_SECRET,
            {
                "POSTGRES_USER": "mlflow",
                "POSTGRES_PASSWORD": db_password,
                "POSTGRES_DB": "mlflow",
                "MLFLOW_BACKEND_STORE_URI": f"postgresql://mlflow:{db_password}@postgres:5432/mlflow",
            },
        ),
        _secret(
            MLFLOW_ADMIN_SECRET,
            {"username": MLFLOW_ADMIN, "password": admin_password, "flask_secret_key": secrets.token_hex(32)},
        ),
        _secret(RAY_TOKEN_SECRET, {"token": secrets.token_hex(32)}),
        _secret(API_TOKEN_SECRET, {"token": secrets.token_urlsafe(32)}),
    ]


def render() -> str:
    """The generated Secrets as one YAML stream, for ``kubectl apply -f -``."""
    return yaml.safe_dump_all(generate(), sort_keys=False)

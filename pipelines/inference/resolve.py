"""Registry resolution: fetch the export a model URI names (``runs:/``, ``models:/NAME/VERSION``, ``@ALIAS``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from pipelines import tracking
from pipelines.errors import UserError
from pipelines.inference.artifacts import BUNDLE_ARTIFACT, EXPORT_TAG
from pipelines.inference.bundle import Bundle, load_bundle

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REGISTRY_URI = re.compile(r"models:/([^/@]+)(?:/(\d+)|@([^/]+))")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class ResolvedModel:
    """An exported model fetched from a URI, with where it came from in the registry (if it did)."""

    uri: str
    bundle: Bundle
    name: str | None = None
    version: str | None = None
    alias: str | None = None


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise UserError(f"bad model name {name!r}: use letters, digits, '.', '_' and '-'")


def check_alias(alias: str) -> None:
    if not _ALIAS.match(alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise UserError(f"bad alias {alias!r}: letters, digits, '_' and '-', not 'latest' or 'v<number>'")


def check_registered(name: str) -> None:
    check_name(name)
    try:
        tracking.client().get_registered_model(name)
    except MlflowException as exc:
        if tracking.unreachable(exc):
            raise UserError(tracking.unreachable_message(exc)) from exc
        raise UserError(f"unknown registered model {name!r}") from exc


def model_version(name: str, version: str) -> ModelVersion:
    check_registered(name)
    try:
        return tracking.client().get_model_version(name, str(version))
    except MlflowException as exc:
        raise UserError(f"model {name!r} has no version {version!r}") from exc


def alias_holder(name: str, alias: str) -> ModelVersion | None:
    try:
        return tracking.client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def fetch_bundle(model_uri: str) -> Bundle:
    """Download an exported model (any URI MLflow resolves) and open its bundle."""
    root = tracking.download_uri(model_uri)
    folder = root / "artifacts" / BUNDLE_ARTIFACT
    if not folder.is_dir():
        raise UserError(f"{model_uri} is not an attnops ONNX export")
    return load_bundle(folder)


def resolve(uri: str) -> ResolvedModel:
    """Fetch the export ``uri`` names: ``runs:/RUN_ID``, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``."""
    if uri.startswith("runs:/") and "/" not in uri.removeprefix("runs:/").strip("/"):
        run_id = uri.removeprefix("runs:/").strip("/")
        exported = tracking.run_tags(run_id).get(EXPORT_TAG)
        if not exported:
            raise UserError(f"run {run_id} has no ONNX export; run 'attnops export {run_id}' first")
        return ResolvedModel(uri, fetch_bundle(exported))
    match = _REGISTRY_URI.fullmatch(uri)
    if match:
        name, version, alias = match.groups()
        found = model_version(name, version) if version else _alias_version(name, alias)
        return ResolvedModel(uri, fetch_bundle(f"models:/{name}/{found.version}"), name, str(found.version), alias)
    return ResolvedModel(uri, fetch_bundle(uri))


def current_version(uri: str) -> str | None:
    """The registry version ``uri`` names right now; None for a URI outside the registry."""
    match = _REGISTRY_URI.fullmatch(uri)
    if not match:
        return None
    name, version, alias = match.groups()
    return version or str(_alias_version(name, alias).version)


def _alias_version(name: str, alias: str) -> ModelVersion:
    check_registered(name)
    holder = alias_holder(name, alias)
    if holder is None:
        raise UserError(f"model {name!r} has no alias @{alias}")
    return holder

"""Registry resolution: fetch the export a model URI names (``runs:/``, ``models:/NAME/VERSION``, ``@ALIAS``)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import BUNDLE_ARTIFACT, DIGEST_TAG, EXPORT_TAG
from attnops.pipelines.inference.bundle import Bundle, load_bundle
from attnops.pipelines.inference.checksums import TamperedBundle, model_digest

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REGISTRY_URI = re.compile(r"models:/([^/@]+)(?:/(\d+)|@([^/]+))")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
CACHE_ENV = "ATTNOPS_CACHE_DIR"


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


def fetch_bundle(model_uri: str, cache: Path | None = None) -> Bundle:
    """Download an exported model (any URI MLflow resolves) and open its bundle. With ``cache``, a folder keyed
    by the registry version, a copy already there is opened (and verified) instead. A download that is no
    export or fails verification is removed, so a bad version does not fill the disk poll after poll."""
    root = cache if cache is not None and cache.is_dir() else _download(model_uri, cache)
    try:
        folder = root / "artifacts" / BUNDLE_ARTIFACT
        if not folder.is_dir():
            raise UserError(f"{model_uri} is not an attnops ONNX export")
        return load_bundle(folder)
    except UserError:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _download(model_uri: str, cache: Path | None) -> Path:
    """Download into a fresh folder; with ``cache``, then move it there whole (another process may have won)."""
    if cache is None:
        return tracking.download_uri(model_uri)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    try:
        downloaded = tracking.download_uri(model_uri, partial)
        try:
            downloaded.rename(cache)
        except OSError:  # another replica moved its copy in first: that one is used (and verified)
            pass
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return cache


def version_cache(name: str, version: str) -> Path:
    """Where registry version ``name``/``version`` of the current tracking server is kept on this machine
    (``$ATTNOPS_CACHE_DIR/models``, default ``~/.cache/attnops/models``)."""
    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):  # relative to the working directory
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    server = hashlib.sha256(uri.encode()).hexdigest()[:12]
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "attnops")
    return root / "models" / server / name / version


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
        bundle = fetch_bundle(f"models:/{name}/{found.version}", version_cache(name, str(found.version)))
        check_registered_digest(found, bundle)
        return ResolvedModel(uri, bundle, name, str(found.version), alias)
    return ResolvedModel(uri, fetch_bundle(uri))


def export_root(bundle: Bundle) -> Path:
    """The downloaded MLflow model folder around ``bundle`` (``<root>/artifacts/bundle``)."""
    return bundle.folder.parents[1]


def check_registered_digest(version: ModelVersion, bundle: Bundle) -> None:
    """Refuse an export whose files are not those its registry version recorded at registration (a rewritten
    manifest, ``MLmodel`` or pyfunc script included), or a version that recorded none."""
    recorded = version.tags.get(DIGEST_TAG)
    where = f"{version.name} version {version.version}"
    if not recorded:
        raise TamperedBundle(f"{where} records no {DIGEST_TAG}; register its run again to serve it")
    if model_digest(export_root(bundle)) != recorded:
        shutil.rmtree(export_root(bundle), ignore_errors=True)
        raise TamperedBundle(
            f"{where}: the export's files differ from those registered ({DIGEST_TAG} mismatch); refusing to load it"
        )


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

"""SHA-256 digests of a bundle's files: recorded at export, verified before anything is opened; and one
digest of the whole exported MLflow model, recorded on its registry version and verified at every load."""

from __future__ import annotations

import hashlib
from pathlib import Path

from attnops.pipelines.errors import UserError

_CHUNK = 1 << 20
MLFLOW_WRITTEN = ("registered_model_meta",)
"""Files MLflow writes into a model folder as it downloads it (the registry name and version), not part of it."""


class TamperedBundle(UserError):
    """A bundle file differs from (or is missing beside) the digest its manifest recorded."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def digests(folder: Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Digest of every file under ``folder`` by its POSIX path relative to it, ``exclude`` left out."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {rel: sha256(p) for p in files if (rel := p.relative_to(folder).as_posix()) not in exclude}


def verify(folder: Path, expected: dict[str, str], exclude: tuple[str, ...] = ()) -> None:
    """Raise :class:`TamperedBundle` naming every changed, missing or unexpected file."""
    found = digests(folder, exclude)
    problems = [f"{name} changed" for name in sorted(expected) if name in found and found[name] != expected[name]]
    problems += [f"{name} missing" for name in sorted(set(expected) - set(found))]
    problems += [f"{name} not in the manifest" for name in sorted(set(found) - set(expected))]
    if problems:
        raise TamperedBundle(f"{folder}: checksum verification failed: {'; '.join(problems)}; refusing to load it")


def model_digest(root: Path) -> str:
    """One SHA-256 over every file of an exported MLflow model folder: ``MLmodel``, the pyfunc script MLflow
    runs, its environment files and the bundle with its manifest (each file's path and digest, in order)."""
    listing = "".join(f"{name}\t{digest}\n" for name, digest in digests(root, exclude=MLFLOW_WRITTEN).items())
    return hashlib.sha256(listing.encode()).hexdigest()

"""SHA-256 digests of a bundle's files: recorded at export, verified before anything is opened."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.errors import UserError

_CHUNK = 1 << 20


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

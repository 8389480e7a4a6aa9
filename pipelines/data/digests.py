"""Content digests: SHA-256 of what a loader reads (a gzip file's decompressed bytes, any other file's bytes).

Gzip containers carry a time stamp and the compressor's choices, so two identical contents compress to
different bytes; the digest of the content is what says two data folders hold the same rows.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

CHUNK = 1 << 20


def file_digest(path: Path, decompress: bool = False) -> str:
    """SHA-256 of the file's bytes (of its decompressed bytes with ``decompress``)."""
    digest = hashlib.sha256()
    with (gzip.open if decompress else open)(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_digest(path: Path) -> str:
    """SHA-256 of the decompressed bytes of a ``.gz`` file, of the bytes of any other file."""
    return file_digest(path, decompress=path.suffix == ".gz")


def folder_digests(folder: Path) -> dict[str, str]:
    """Content digest of every file under ``folder`` (hidden ones skipped), by POSIX path relative to it."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return {p.relative_to(folder).as_posix(): content_digest(p) for p in files}


def combined_digest(digests: dict[str, str]) -> str:
    """One short digest of a set of files (their paths and content digests): what lineage records."""
    lines = "".join(f"{path} {digest}\n" for path, digest in sorted(digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]

"""Resumable, verified downloads over HTTP(S) with httpx: a cut download continues with a Range request."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from tqdm import tqdm

from attnops.pipelines.data.digests import file_digest
from attnops.pipelines.errors import UserError

log = logging.getLogger(__name__)

ATTEMPTS = 4
"""Tries per file; each after the first resumes from the bytes already on disk."""
TIMEOUT = httpx.Timeout(10.0, read=60.0)


class Unreachable(UserError):
    """The host cannot be reached at all (no network, a wrong mirror): nothing was downloaded."""


class ChecksumMismatch(UserError):
    """A downloaded file is not the pinned one; it was deleted."""


def _stream_into(client: httpx.Client, url: str, partial: Path, progress: tqdm) -> None:
    """Append the rest of ``url`` to ``partial`` (a Range request when it holds bytes already)."""
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416:  # nothing left: the file was complete
            return
        if response.status_code >= 400:
            raise UserError(f"cannot download {url}: HTTP {response.status_code}")
        mode = "ab" if response.status_code == 206 else "wb"  # 200: the server ignored the range, start over
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, mode) as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
                progress.update(len(chunk))


def download(client: httpx.Client, url: str, target: Path, sha256: str | None, progress: tqdm) -> Path:
    """Download ``url`` to ``target`` (kept if already there and valid), resuming a cut transfer.

    Raises:
        Unreachable: the host does not answer.
        ChecksumMismatch: the bytes differ from the pinned ``sha256`` (the file is deleted).
        UserError: an HTTP error, or a transfer cut on every attempt (run again to resume).
    """
    partial = target.with_name(target.name + ".part")
    if not target.exists():
        for attempt in range(1, ATTEMPTS + 1):
            try:
                _stream_into(client, url, partial, progress)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == 1:
                    raise Unreachable(f"cannot reach {url}: {exc}") from exc
                error = exc
            except httpx.TransportError as exc:
                error = exc
            have = partial.stat().st_size if partial.exists() else 0
            log.warning("download of %s cut after %d bytes (%s); resuming", url, have, error)
        else:
            raise UserError(f"download of {url} was cut {ATTEMPTS} times; run the same command again to resume")
        partial.replace(target)
    if sha256 is not None and (found := file_digest(target)) != sha256:
        target.unlink()
        raise ChecksumMismatch(f"{url}: SHA-256 {found} is not the pinned {sha256}; the file was deleted")
    return target

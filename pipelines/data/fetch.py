"""Fetch a catalogue data set into a data root (download, verify, convert, check, rename) and verify a data root."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tqdm import tqdm

from attnops.pipelines.data.catalogue import CATALOGUE, DataSet, data_set_named, fetchables, pinned_outputs
from attnops.pipelines.data.digests import combined_digest, folder_digests
from attnops.pipelines.data.download import TIMEOUT, download
from attnops.pipelines.data.location import BASE_URL_ENV, DATA_DIR_ENV, data_dir
from attnops.pipelines.errors import UserError

log = logging.getLogger(__name__)

DOWNLOADS = ".downloads"
"""Folder of a data root that keeps downloads until their data set is converted (so a cut fetch resumes)."""

CONVERSION_ERRORS = (OSError, EOFError, tarfile.TarError, zlib.error, csv.Error, KeyError, ValueError)
"""What a damaged download raises while it is converted (a truncated archive, a malformed row)."""


@dataclass
class Check:
    """How a data folder compares with the catalogue's pinned content digests."""

    name: str
    folder: Path
    digest: str
    """Combined digest of the folder's files (what lineage records)."""
    missing: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reencoded_differ: int = 0
    """Re-encoded outputs (photos) whose bytes differ from the pinned ones: reported, not a failure."""
    reencoded: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.differ or self.unexpected)

    def problems(self) -> str:
        listed = [f"{kind} {', '.join(paths[:5])}{' …' if len(paths) > 5 else ''}"
                  for kind, paths in (("missing", self.missing), ("differs", self.differ),
                                      ("unexpected", self.unexpected)) if paths]  # fmt: skip
        return "; ".join(listed)

    def line(self) -> str:
        verdict = "ok" if self.ok else f"FAILED: {self.problems()}"
        photos = f" ({self.reencoded_differ} of {self.reencoded} re-encoded files differ in bytes from the pinned ones)"
        return f"{self.name}: {verdict}, digest {self.digest}{photos if self.reencoded_differ else ''}"


def check_folder(data_set: DataSet, folder: Path) -> Check:
    """Compare every file of ``folder`` with the data set's pinned content digests."""
    found = {path: digest for path, digest in folder_digests(folder).items() if path != "SOURCE.md"}
    pinned = pinned_outputs(data_set.name)
    check = Check(data_set.name, folder, combined_digest(found))
    check.missing = sorted(set(pinned) - set(found))
    check.unexpected = sorted(set(found) - set(pinned))
    for path in sorted(set(pinned) & set(found)):
        if data_set.is_reencoded(path):
            check.reencoded += 1
            check.reencoded_differ += found[path] != pinned[path]
        elif found[path] != pinned[path]:
            check.differ.append(path)
    return check


def fetch(name: str, root: Path | None = None, base_url: str | None = None) -> Check:
    """Fetch data set ``name`` into ``root`` (default :func:`data_dir`) unless it is there already.

    Downloads go to ``root/.downloads/NAME`` (resumed if cut), are checked against pinned digests, converted
    into a temporary folder whose files must match the pinned content digests, which is then renamed to
    ``root/NAME``: a failed fetch writes no data folder.

    Raises:
        UserError: a download that fails or does not match, or a conversion whose output does not match
            (naming the file).
    """
    data_set = data_set_named(name)
    root = root or data_dir()
    target = root / name
    if target.exists():
        return check_folder(data_set, target)
    base_url = base_url or os.environ.get(BASE_URL_ENV)
    downloads = root / DOWNLOADS / name
    files = fetchables(data_set, base_url)
    progress = tqdm(desc=name, unit="B", unit_scale=True, disable=None)
    with httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client, progress:
        for item in files:
            download(client, item.url, downloads / item.path, item.sha256, progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        try:
            data_set.convert(downloads, staging)
        except CONVERSION_ERRORS as exc:
            shutil.rmtree(downloads)
            raise UserError(f"{name}: the downloads cannot be converted ({exc!r}); nothing was written") from exc
        check = check_folder(data_set, staging)
        if not check.ok:
            shutil.rmtree(downloads)  # unpinned downloads are suspect: fetch them afresh next time
            raise UserError(f"{name}: the converted files do not match the catalogue ({check.problems()}); "
                            "nothing was written")  # fmt: skip
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(downloads)
    check.folder = target
    log.info("%s: fetched %d files into %s", name, len(files), target)
    return check


def verify(names: list[str], root: Path | None = None) -> list[Check]:
    """Check data sets of ``root`` against the catalogue: the named ones, else every one present."""
    root = root or data_dir()
    names = names or [name for name in CATALOGUE if (root / name).is_dir()]
    missing = [name for name in names if not (root / data_set_named(name).name).is_dir()]
    if missing:
        raise UserError(f"not in {root}: {', '.join(missing)} (attnops data fetch {' '.join(missing)})")
    return [check_folder(CATALOGUE[name], root / name) for name in names]


def ensure(name: str, root: Path) -> None:
    """Fetch catalogue data set ``name`` into ``root`` if its folder is missing (first use).

    Raises:
        UserError: one line naming ``attnops data fetch NAME`` and ``$ATTNOPS_DATA_DIR`` when it cannot be fetched.
    """
    if (root / name).exists() or name not in CATALOGUE:
        return
    try:
        fetch(name, root)
    except UserError as exc:
        raise UserError(
            f"data set {name!r} is not in {root} and could not be fetched ({exc}); run `attnops data fetch {name}` "
            f"where there is a network, or set ${DATA_DIR_ENV} to a folder that holds {name}/"
        ) from exc

"""``attnops data fetch`` from a mirror on 127.0.0.1 serving upstream-shaped files built from the shared data."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnops.cli.main import main
from attnops.pipelines.data.catalogue import CATALOGUE, pinned_outputs
from attnops.pipelines.data.digests import folder_digests
from attnops.pipelines.data.fetch import ensure
from attnops.pipelines.data.location import data_dir
from tests.data import mirror as upstream

SHARED = data_dir()
CUT = "/raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/train.de.gz"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mirror")
    for build in upstream.BUILDERS.values():
        build(SHARED, folder)
    return folder


def _fetch(root: Path, base_url: str, *names: str) -> int:
    return main(["data", "fetch", *names, "--root", str(root), "--base-url", base_url])


def _shared_digests(name: str) -> dict[str, str]:
    return {path: digest for path, digest in folder_digests(SHARED / name).items() if path != "SOURCE.md"}


@pytest.mark.slow
def test_every_data_set_fetched_from_the_mirror_equals_the_shared_copy(mirror, tmp_path, capsys):
    root = tmp_path / "data"
    with upstream.serve(mirror, cut={CUT}) as (base_url, seen):
        assert _fetch(root, base_url, *CATALOGUE) == 0
    assert (CUT, None) in seen and any(path == CUT and (ranged or "").startswith("bytes=") for path, ranged in seen)
    for name, data_set in CATALOGUE.items():
        fetched = folder_digests(root / name)
        shared = _shared_digests(name)
        assert sorted(fetched) == sorted(shared), name
        text = {path for path in shared if not data_set.is_reencoded(path)}
        assert {p: fetched[p] for p in text} == {p: shared[p] for p in text}, name
    # The cut download resumed into the upstream bytes themselves.
    assert (root / "multi30k/raw/train.de.gz").read_bytes() == (SHARED / "multi30k/raw/train.de.gz").read_bytes()
    # Photos: the same 2,000 names, 160×160, the same pictures after a resize there and back.
    photos = sorted((root / "flickr8k_mini/images").iterdir())
    assert len(photos) == 2000
    for photo in photos[:50]:
        fetched, shared = (
            np.asarray(Image.open(p), dtype=np.float32) for p in (photo, SHARED / "flickr8k_mini/images" / photo.name)
        )
        assert fetched.shape == (160, 160, 3) and np.abs(fetched - shared).mean() < 4.0, photo.name
    assert not (root / ".downloads" / "multi30k").exists()
    out = capsys.readouterr().out
    assert "multi30k: ok" in out and "re-encoded files differ" in out
    assert main(["data", "verify", "multi30k", "aeslc", "--root", str(root)]) == 0


def test_a_flipped_byte_in_a_pinned_download_is_refused_and_nothing_written(tmp_path, capsys):
    bad = tmp_path / "mirror"
    upstream.scitldr(SHARED, bad)
    dev = next(bad.rglob("dev.jsonl"))
    data = bytearray(dev.read_bytes())
    data[len(data) // 2] ^= 0x01
    dev.write_bytes(bytes(data))
    root = tmp_path / "data"
    with upstream.serve(bad) as (base_url, _):
        assert _fetch(root, base_url, "scitldr") == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("attnops: error:") and "SciTLDR-A/dev.jsonl" in error and "\n" not in error
    assert not (root / "scitldr").exists() and not list(root.glob(".scitldr-*"))
    assert not (root / ".downloads/scitldr/SciTLDR-Data/SciTLDR-A/dev.jsonl").exists()


def test_a_changed_record_in_an_archive_is_refused_naming_the_converted_file(tmp_path, capsys):
    def edit(record: dict) -> None:
        if record["id"] == "allen-p_inbox_29":
            record["subject"] = record["subject"][:-1] + chr(ord(record["subject"][-1]) ^ 1)

    bad = tmp_path / "mirror"
    upstream.aeslc(SHARED, bad, edit)
    root = tmp_path / "data"
    with upstream.serve(bad) as (base_url, _):
        assert _fetch(root, base_url, "aeslc") == 2
    error = capsys.readouterr().err
    assert "differs dev.jsonl.gz" in error and "nothing was written" in error
    assert sorted(p.name for p in root.iterdir()) == [".downloads"] and not (root / ".downloads/aeslc").exists()
    assert "dev.jsonl.gz" in pinned_outputs("aeslc")


def test_training_fetches_a_missing_data_set_on_first_use(tmp_path, monkeypatch):
    upstream.scitldr(SHARED, tmp_path / "mirror")
    with upstream.serve(tmp_path / "mirror") as (base_url, seen):
        monkeypatch.setenv("ATTNOPS_DATA_BASE_URL", base_url)
        ensure("scitldr", tmp_path / "data")
        ensure("scitldr", tmp_path / "data")  # present now: nothing more is downloaded
    assert len(seen) == 3 and folder_digests(tmp_path / "data/scitldr") == _shared_digests("scitldr")


def test_offline_fetch_is_one_line_naming_the_host(tmp_path, capsys):
    # Port 9 on loopback: nothing listens, so the connection is refused as on a machine without a network.
    assert _fetch(tmp_path, "http://127.0.0.1:9", "multi30k") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot reach http://127.0.0.1:9/raw.githubusercontent.com/" in error
    assert not (tmp_path / "multi30k").exists()


def test_verify_names_a_changed_file(tmp_path, capsys):
    shutil.copytree(SHARED / "scitldr", tmp_path / "scitldr")
    (tmp_path / "scitldr/test.jsonl.gz").chmod(0o644)
    with gzip.open(tmp_path / "scitldr/test.jsonl.gz", "ab") as handle:
        handle.write(b"{}\n")
    assert main(["data", "verify", "--root", str(tmp_path)]) == 2
    assert "scitldr: FAILED: differs test.jsonl.gz" in capsys.readouterr().out

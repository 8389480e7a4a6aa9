"""Converters from each data set's upstream files to the layout the loaders read (one function per data set).

Each takes the data set's download folder and an empty output folder. JSON Lines are written with
``ensure_ascii=False``, one record a line, gzip without a time stamp, so a conversion is repeatable.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import shutil
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from attnops.pipelines.errors import UserError

FLICKR_MINI_SIZES = {"train": 1500, "dev": 250, "test": 250}
"""Photos taken from each official Flickr8k split (the first ones by MD5 of the file name)."""
FLICKR_TRAIN_LINES = 6000
"""The train list's official lines; the copy used appends lines that are not Flickr8k photos."""
PHOTO_SIZE = (160, 160)
PHOTO_QUALITY = 85


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Gzipped JSON Lines without a time stamp in the gzip header."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
        for record in records:
            handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode())


def _gzip_text(source: Path, target: Path) -> None:
    data = source.read_bytes()
    with open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
        handle.write(data if data.endswith(b"\n") else data + b"\n")


def _members(archive: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    """(path inside the repository, bytes) of each archive member whose path matches ``pattern``; GitHub
    archives put every file under one ``<repo>-<commit>/`` folder, which is dropped."""
    regex = re.compile(pattern)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            inner = member.name.partition("/")[2]
            if member.isfile() and regex.fullmatch(inner):
                yield inner, tar.extractfile(member).read()


def multi30k(downloads: Path, out: Path) -> None:
    """The raw sentence files and image lists, byte for byte."""
    shutil.copytree(downloads / "data" / "task1", out, dirs_exist_ok=True)


def scitldr(downloads: Path, out: Path) -> None:
    """Each split gzipped, with the newline its last record lacks upstream."""
    for split in ("train", "dev", "test"):
        _gzip_text(downloads / "SciTLDR-Data" / "SciTLDR-A" / f"{split}.jsonl", out / f"{split}.jsonl.gz")


def _subject_record(name: str, text: str) -> dict:
    """An AESLC ``.subject`` file: the body, then ``@subject`` and (dev, test) ``@ann0..2``, each on its own line."""
    body, *tagged = re.split(r"^@(subject|ann\d)[ \t]*$", text, flags=re.MULTILINE)
    fields = dict(zip(tagged[::2], (value.strip() for value in tagged[1::2])))
    if "subject" not in fields:
        raise UserError(f"AESLC file {name} has no @subject line")
    record = {"id": Path(name).name.removesuffix(".subject"), "email": body.strip(), "subject": fields["subject"]}
    annotations = [fields[key] for key in sorted(fields) if key.startswith("ann")]
    return record | ({"annotations": annotations} if annotations else {})


def aeslc(downloads: Path, out: Path) -> None:
    """One JSON Lines file per split, records in file-name order."""
    files = dict(_members(downloads / "AESLC.tar.gz", r"enron_subject_line/(train|dev|test)/[^/]+\.subject"))
    for split in ("train", "dev", "test"):
        names = sorted(n for n in files if n.split("/")[1] == split)
        write_jsonl(out / f"{split}.jsonl.gz", (_subject_record(n, files[n].decode("utf-8")) for n in names))


def _text(data: bytes) -> str:
    """UTF-8, else Latin-1 (one BBC article is Latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def bbc_news_summary(downloads: Path, out: Path) -> None:
    """Article and summary files → one record each, ``id`` ``<category>/<NNN>``, in id order."""
    folder = "BBC News Summary/(News Articles|Summaries)/[a-z]+/[0-9]+\\.txt"
    files = {name: _text(data) for name, data in _members(downloads / "RGIProject.tar.gz", folder)}
    records = []
    for name in sorted(n for n in files if n.split("/")[1] == "News Articles"):
        category, number = name.split("/")[2], Path(name).stem
        title, _, article = files[name].partition("\n")
        summary = files.get(f"BBC News Summary/Summaries/{category}/{number}.txt")
        if summary is None:
            raise UserError(f"BBC News Summary: {name} has no summary file")
        records.append(
            {
                "id": f"{category}/{number}",
                "category": category,
                "title": title,
                "article": article.strip(),
                "summary": summary.strip(),
            }  # fmt: skip
        )
    write_jsonl(out / "bbc_news_summary.jsonl.gz", records)


def _image_list(path: Path, limit: int | None = None) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()][:limit]


def _flickr_splits(text: Path) -> dict[str, str]:
    """Photo file name → its official split (train, dev, test)."""
    lists = {
        "train": _image_list(text / "Flickr_8k.trainImages.txt", FLICKR_TRAIN_LINES),
        "dev": _image_list(text / "Flickr_8k.devImages.txt"),
        "test": _image_list(text / "Flickr_8k.testImages.txt"),
    }
    return {name: split for split, names in lists.items() for name in names}


def _mini_selection(splits: dict[str, str]) -> list[tuple[str, str]]:
    """(split, photo) of the mini set: per split, the first photos by MD5 of the file name."""
    chosen = []
    for split, count in FLICKR_MINI_SIZES.items():
        names = sorted((n for n, s in splits.items() if s == split), key=lambda n: hashlib.md5(n.encode()).hexdigest())
        chosen += [(split, name) for name in sorted(names[:count])]
    return chosen


def _resize_photo(source: Path, target: Path) -> None:
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").resize(PHOTO_SIZE, Image.Resampling.LANCZOS).save(target, quality=PHOTO_QUALITY)


def flickr8k_mini(downloads: Path, out: Path) -> None:
    """Captions (CSV) and split lists → the captions of every photo and of the mini set; the mini set's photos
    resized to 160×160."""
    captions: dict[str, list[str]] = {}
    with open(downloads / "data" / "captions.txt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], []).append(row["caption"])
    splits = _flickr_splits(downloads / "Flickr8k_text")
    write_jsonl(
        out / "captions_all_flickr8k.jsonl.gz",
        ({"image": n, "split": splits.get(n, "none"), "captions": captions[n]} for n in sorted(captions)),
    )
    chosen = _mini_selection(splits)
    write_jsonl(out / "captions.jsonl.gz", ({"image": n, "split": s, "captions": captions[n]} for s, n in chosen))
    (out / "images").mkdir()
    for _, name in chosen:
        _resize_photo(downloads / "data" / "images" / name, out / "images" / name)

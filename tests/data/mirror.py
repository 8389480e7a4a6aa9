"""Upstream-shaped files built from the shared data folder, served from 127.0.0.1 like the public hosts.

The mirror holds ``<host>/<path>`` of each catalogue URL. What each upstream file looks like comes from the
data sets' documented conversions, run backwards: Multi30k's files are the upstream bytes; SciTLDR's lose the
newline added at the end; AESLC's emails and BBC's articles become one text file each inside a GitHub
archive; Flickr8k's captions become the Kaggle CSV, its splits the official lists, its photos 224×224 JPEGs.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from attnops.pipelines.data.catalogue import CATALOGUE, fetchables


def _records(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _place(mirror: Path, url: str) -> Path:
    parts = urlsplit(url)
    target = mirror / parts.netloc / parts.path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _urls(name: str) -> dict[str, str]:
    """Download path → upstream URL of data set ``name``."""
    return {item.path: item.url for item in fetchables(CATALOGUE[name])}


def _tar(target: Path, top: str, files: dict[str, bytes]) -> None:
    with tarfile.open(target, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def multi30k(shared: Path, mirror: Path) -> None:
    for path, url in _urls("multi30k").items():
        shutil.copyfile(shared / "multi30k" / path.removeprefix("data/task1/"), _place(mirror, url))


def scitldr(shared: Path, mirror: Path) -> None:
    for path, url in _urls("scitldr").items():
        data = gzip.decompress((shared / "scitldr" / f"{Path(path).stem}.jsonl.gz").read_bytes())
        _place(mirror, url).write_bytes(data.removesuffix(b"\n"))


def aeslc(shared: Path, mirror: Path, edit: Callable[[dict], None] | None = None) -> None:
    files = {}
    for split in ("train", "dev", "test"):
        for record in _records(shared / "aeslc" / f"{split}.jsonl.gz"):
            if edit is not None:
                edit(record)
            tags = [("subject", record["subject"])] + [
                (f"ann{i}", a) for i, a in enumerate(record.get("annotations", []))
            ]
            text = record["email"] + "\n\n" + "".join(f"@{tag}\n{value}\n\n" for tag, value in tags)
            files[f"enron_subject_line/{split}/{record['id']}.subject"] = text.encode()
    (url,) = _urls("aeslc").values()
    _tar(_place(mirror, url), f"AESLC-{url.rsplit('/', 1)[1]}", files)


def bbc_news_summary(shared: Path, mirror: Path) -> None:
    files = {}
    for record in _records(shared / "bbc_news_summary" / "bbc_news_summary.jsonl.gz"):
        article = f"{record['title']}\n\n{record['article']}\n"
        encoding = "latin-1" if record["id"] == "sport/199" else "utf-8"  # as upstream
        files[f"BBC News Summary/News Articles/{record['id']}.txt"] = article.encode(encoding)
        files[f"BBC News Summary/Summaries/{record['id']}.txt"] = (record["summary"] + "\n").encode()
    (url,) = _urls("bbc_news_summary").values()
    _tar(_place(mirror, url), f"RGIProject-{url.rsplit('/', 1)[1]}", files)


def flickr8k_mini(shared: Path, mirror: Path) -> None:
    urls = _urls("flickr8k_mini")
    records = _records(shared / "flickr8k_mini" / "captions_all_flickr8k.jsonl.gz")
    with open(_place(mirror, urls["data/captions.txt"]), "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        writer.writerows([record["image"], caption] for record in records for caption in record["captions"])
    for split, extra in (("train", "not_a_flickr_photo.jpg\n"), ("dev", ""), ("test", "")):
        names = "".join(f"{r['image']}\n" for r in reversed(records) if r["split"] == split)
        _place(mirror, urls[f"Flickr8k_text/Flickr_8k.{split}Images.txt"]).write_text(names + extra)
    for photo in (shared / "flickr8k_mini" / "images").iterdir():
        with Image.open(photo) as image:
            image.resize((224, 224), Image.Resampling.LANCZOS).save(
                _place(mirror, urls[f"data/images/{photo.name}"]), quality=95
            )


BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "multi30k": multi30k,
    "scitldr": scitldr,
    "aeslc": aeslc,
    "bbc_news_summary": bbc_news_summary,
    "flickr8k_mini": flickr8k_mini,
}


class MirrorHandler(SimpleHTTPRequestHandler):
    """Serves the mirror folder over HTTP/1.1 with byte ranges; cuts the first transfer of each path in ``cut``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: Nagle would hold each body ~40 ms
    cut: set[str]
    seen: list[tuple[str, str | None]]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        self.seen.append((self.path, self.headers.get("Range")))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-")) if self.headers.get("Range") else 0
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.cut:
            self.cut.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)


@contextmanager
def serve(folder: Path, cut: set[str] = frozenset()) -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """Serve ``folder`` on a free port of 127.0.0.1: yields the base URL and the log of (path, Range header)."""
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (MirrorHandler,), {"cut": set(cut), "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()

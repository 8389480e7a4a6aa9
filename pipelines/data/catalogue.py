"""The data catalogue: every data set attnops knows by name, where it comes from, and how it is converted.

Like :data:`attnops.models.attention.SCORERS` and :data:`attnops.pipelines.tasks.TASKS`, one table
(:data:`CATALOGUE`) holds one entry per data set. The digests live beside it in ``digests.json``: ``upstream``
pins the SHA-256 of each fetched file where the upstream bytes are known; ``outputs`` pins the content digest
(:func:`attnops.pipelines.data.digests.content_digest`) of every converted file, which is what the loaders read.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from attnops.pipelines.data import converters
from attnops.pipelines.errors import UserError

DIGESTS_FILE = Path(__file__).with_name("digests.json")


@dataclass(frozen=True)
class Download:
    """One upstream file; with ``each``, one file per pinned output matching that pattern (``{file}`` in the URL)."""

    url: str
    path: str
    """Where it is kept in the data set's download folder (relative)."""
    each: str | None = None


@dataclass(frozen=True)
class DataSet:
    """A public data set: its source, terms, files and converter to the layout the loaders read."""

    name: str
    title: str
    tasks: tuple[str, ...]
    home: str
    """The upstream repository at the pinned commit (what lineage names as the source)."""
    source: str
    """The upstream repository (or repositories) at the pinned commit, and the paths taken."""
    licence: str
    citation: str
    downloads: tuple[Download, ...]
    convert: Callable[[Path, Path], None]
    """(download folder, empty output folder) → the converted files."""
    reencoded: str | None = None
    """Outputs (a glob) the converter re-encodes (photos): their bytes depend on the encoder library and are
    compared with the pinned ones but not required to match; their names and count are."""

    def is_reencoded(self, path: str) -> bool:
        return self.reencoded is not None and fnmatch.fnmatch(path, self.reencoded)


@dataclass(frozen=True)
class Fetchable:
    """A download resolved to a URL, with its pinned SHA-256 where the upstream bytes are known."""

    url: str
    path: str
    sha256: str | None


def _github(repo: str, commit: str, path: str, each: str | None = None) -> Download:
    return Download(f"https://raw.githubusercontent.com/{repo}/{commit}/{path}", path, each)


def _tree(repo: str, commit: str) -> str:
    return f"https://github.com/{repo}/tree/{commit}"


def _archive(repo: str, commit: str, path: str) -> Download:
    return Download(f"https://codeload.github.com/{repo}/tar.gz/{commit}", path)


_MULTI30K = ("multi30k/dataset", "a3d2e0d26b56f3846f66a952536ffed4e401d05a")
_MULTI30K_SPLITS = ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco", "test_2018_flickr")
_SCITLDR = ("allenai/scitldr", "5ccad9c00a60ad75c9e04abf7f27d0f53f983b20")
_AESLC = ("ryanzhumich/AESLC", "7afc087a1cc234d07121f0d4a2d87102ddceabc2")
_BBC = ("RobinHelbig/RGIProject", "c387bd6352a90ac07a325db1798605d66dec492b")
_FLICKR_PHOTOS = ("RlNZLER/Image-Text-Matching", "56a15d913c3f290e2ee896386ece6076c1eea02e")
_FLICKR_CAPTIONS = ("quantumnaan/sic_translator", "dca22ae37884a36d4b53f88eb17390575b2b802d")
_FLICKR_TRAIN = ("edwardcruzcruz/Describiendo_imagenes_keras", "5c9a0ffed365098d0df880dd73c1908d2228cc28")
_FLICKR_EVAL = ("nitishhrms/pokemon_classification", "99a82afa22b945285c09189b08ffbd9ad9233b3b")
_NON_COMMERCIAL = "non-commercial research and teaching only"

CATALOGUE: dict[str, DataSet] = {
    data_set.name: data_set
    for data_set in (
        DataSet(
            name="multi30k",
            title="Multi30k task 1, English–German, raw sentences of every split",
            tasks=("translation",),
            home=_tree(*_MULTI30K),
            source=f"https://github.com/{_MULTI30K[0]} at {_MULTI30K[1]}: data/task1/raw/*.{{en,de}}.gz, "
            "data/task1/image_splits/*.txt",
            licence=f"no licence file; the README allows {_NON_COMMERCIAL} (images: Flickr Terms of Use)",
            citation="Elliott, Frank, Sima'an, Specia. 2016. \"Multi30K: Multilingual English-German Image "
            'Descriptions". 5th Workshop on Vision and Language. doi:10.18653/v1/W16-3210',
            downloads=tuple(
                _github(*_MULTI30K, f"data/task1/raw/{split}.{lang}.gz")
                for split in _MULTI30K_SPLITS
                for lang in ("en", "de")
            )
            + tuple(_github(*_MULTI30K, f"data/task1/image_splits/{split}.txt") for split in _MULTI30K_SPLITS),
            convert=converters.multi30k,
        ),
        DataSet(
            name="bbc_news_summary",
            title="BBC News Summary: 2,225 articles in 5 categories with extractive summaries",
            tasks=("classification", "summarization"),
            home=_tree(*_BBC),
            source=f"https://github.com/{_BBC[0]} at {_BBC[1]} (the Kaggle data set by Pariza Sharif, 2018, "
            "committed as-is): BBC News Summary/{News Articles,Summaries}/<category>/NNN.txt",
            licence="Kaggle card: CC0 1.0; the articles' copyright belongs to the BBC; research or teaching only",
            citation='Greene, Cunningham. 2006. "Practical Solutions to the Problem of Diagonal Dominance in Kernel '
            'Document Clustering". ICML 2006; Pariza Sharif. 2018. "BBC News Summary". Kaggle',
            downloads=(_archive(*_BBC, "RGIProject.tar.gz"),),
            convert=converters.bbc_news_summary,
        ),
        DataSet(
            name="aeslc",
            title="AESLC: Enron email bodies with their subject lines (dev and test: three more by annotators)",
            tasks=("abstractive",),
            home=_tree(*_AESLC),
            source=f"https://github.com/{_AESLC[0]} at {_AESLC[1]}: enron_subject_line/{{train,dev,test}}/*.subject",
            licence="CC BY-NC-SA 4.0",
            citation='Zhang, Tetreault. 2019. "This Email Could Save Your Life: Introducing the Task of Email Subject '
            'Line Generation". ACL 2019',
            downloads=(_archive(*_AESLC, "AESLC.tar.gz"),),
            convert=converters.aeslc,
        ),
        DataSet(
            name="scitldr",
            title="SciTLDR-A: paper abstracts with one-sentence TLDRs",
            tasks=("abstractive",),
            home=_tree(*_SCITLDR),
            source=f"https://github.com/{_SCITLDR[0]} at {_SCITLDR[1]}: "
            "SciTLDR-Data/SciTLDR-A/{train,dev,test}.jsonl",
            licence="Apache-2.0 (the repository's LICENSE)",
            citation='Cachola, Lo, Cohan, Weld. 2020. "TLDR: Extreme Summarization of Scientific Documents". '
            "Findings of EMNLP 2020. arXiv:2004.15011",
            downloads=tuple(
                _github(*_SCITLDR, f"SciTLDR-Data/SciTLDR-A/{split}.jsonl") for split in ("train", "dev", "test")
            ),
            convert=converters.scitldr,
        ),
        DataSet(
            name="flickr8k_mini",
            title="Flickr8k mini: 2,000 photos (160×160) of the official split, 5 captions each",
            tasks=("captioning",),
            home=_tree(*_FLICKR_PHOTOS),
            source=f"photos: https://github.com/{_FLICKR_PHOTOS[0]} at {_FLICKR_PHOTOS[1]}, data/images/*.jpg "
            f"(224×224); captions: https://github.com/{_FLICKR_CAPTIONS[0]} at {_FLICKR_CAPTIONS[1]}, "
            f"data/captions.txt; splits: https://github.com/{_FLICKR_TRAIN[0]} at {_FLICKR_TRAIN[1]} (train) and "
            f"https://github.com/{_FLICKR_EVAL[0]} at {_FLICKR_EVAL[1]} (dev, test), Flickr8k_text/",
            licence=f"Flickr users own the photos; UIUC distributed Flickr8k for research: {_NON_COMMERCIAL}",
            citation='Hodosh, Young, Hockenmaier. 2013. "Framing Image Description as a Ranking Task: Data, Models '
            'and Evaluation Metrics". JAIR 47:853–899',
            downloads=(
                _github(*_FLICKR_CAPTIONS, "data/captions.txt"),
                _github(*_FLICKR_TRAIN, "Flickr8k_text/Flickr_8k.trainImages.txt"),
                _github(*_FLICKR_EVAL, "Flickr8k_text/Flickr_8k.devImages.txt"),
                _github(*_FLICKR_EVAL, "Flickr8k_text/Flickr_8k.testImages.txt"),
                _github(*_FLICKR_PHOTOS, "data/images/{file}", each="images/*.jpg"),
            ),
            convert=converters.flickr8k_mini,
            reencoded="images/*.jpg",
        ),
    )
}
"""Every data set attnops can fetch, by the name configs give as ``data.dataset``."""


def data_set_named(name: str) -> DataSet:
    """The catalogue entry ``name``; :class:`UserError` naming the known ones otherwise."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UserError(f"unknown data set {name!r}; the catalogue has: {', '.join(CATALOGUE)}") from None


@functools.cache
def _digests() -> dict[str, dict[str, dict[str, str]]]:
    return json.loads(DIGESTS_FILE.read_text())


def pinned_outputs(name: str) -> dict[str, str]:
    """Content digest of every converted file of data set ``name``, by path relative to its folder."""
    return _digests()[name]["outputs"]


def mirrored(url: str, base_url: str | None) -> str:
    """``url`` itself, or its ``<host>/<path>`` under a mirror's ``base_url``."""
    if not base_url:
        return url
    parts = urlsplit(url)
    return f"{base_url.rstrip('/')}/{parts.netloc}{parts.path}"


def fetchables(data_set: DataSet, base_url: str | None = None) -> list[Fetchable]:
    """Every file to download for ``data_set``, resolved against an optional mirror."""
    upstream = _digests()[data_set.name].get("upstream", {})
    resolved = []
    for download in data_set.downloads:
        if download.each is None:
            files = [(download.url, download.path)]
        else:
            names = [Path(p).name for p in pinned_outputs(data_set.name) if fnmatch.fnmatch(p, download.each)]
            files = [(download.url.format(file=n), download.path.format(file=n)) for n in names]
        resolved += [Fetchable(mirrored(url, base_url), path, upstream.get(url)) for url, path in files]
    return resolved

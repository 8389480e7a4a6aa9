"""What a run trained on: each data set's name, source, content digest and split sizes (logged to MLflow)."""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnops.pipelines.data.catalogue import CATALOGUE
from attnops.pipelines.data.digests import combined_digest, folder_digests

if TYPE_CHECKING:
    from attnops.pipelines.config import DataSection


@dataclass(frozen=True)
class DataLineage:
    name: str
    source: str
    """The upstream repository at its pinned commit (catalogue data), else the files' ``file://`` URI."""
    digest: str
    """:func:`attnops.pipelines.data.digests.combined_digest` of the files read (SOURCE.md left out)."""
    splits: dict[str, int]
    """Records per split, after the config's size limits."""


def split_sizes(data: Any) -> dict[str, int]:
    """Records per split of what a task's ``load_data`` returned: a dict of splits, or an object with ``splits``."""
    splits: dict[str, Sized] = data if isinstance(data, dict) else data.splits
    return {name: len(split) for name, split in splits.items()}


def folder_lineage(name: str, folder: Path, data: Any, own: bool = False) -> DataLineage:
    """Lineage of data set ``name`` read from ``folder`` (``own``: a user's folder, never a catalogue entry)."""
    digests = {path: digest for path, digest in folder_digests(folder).items() if path != "SOURCE.md"}
    if name in CATALOGUE and not own:
        source = CATALOGUE[name].home
    elif folder.is_dir():
        source = folder.resolve().as_uri()
    else:  # a Hugging Face hub id (translation reads one when no such folder exists)
        source = f"https://huggingface.co/datasets/{name}"
    return DataLineage(name, source, combined_digest(digests), split_sizes(data))


def section_lineage(section: DataSection, data: Any) -> DataLineage:
    """Lineage of what a config's data section read: its own data (``path``), or its data set under the root."""
    folder = section.folder()
    own = section.path is not None
    return folder_lineage(folder.name if own else section.dataset, folder, data, own)

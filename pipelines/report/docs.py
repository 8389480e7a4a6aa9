"""Writing the tables into the docs: between markers, and dropping hand-copied rows their runs have replaced.

A generated table sits between ``<!-- begin attnops report: NAME -->`` and ``<!-- end attnops report: NAME -->``.
Its rows of a config file the store has no headline of (runs of an earlier store) stay as written, before the
store's rows; a row's config file is the first ```name.yaml``` in it.
Figures copied by hand before their runs were in a store sit between ``<!-- begin hand-copied … -->`` and
``<!-- end hand-copied -->``; a row of such a table whose config file is among the regenerated ones is removed,
and a table left without rows is removed with its block.
"""

from __future__ import annotations

import re
from pathlib import Path

from attnops.pipelines.errors import UserError

_HAND_COPIED = re.compile(r"<!-- begin hand-copied[^>]*-->\n(.*?)<!-- end hand-copied -->\n?", re.DOTALL)
_CONFIG = re.compile(r"`([\w.-]+\.yaml)`")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- begin attnops report: {name} -->\n", f"<!-- end attnops report: {name} -->"


def replace_block(text: str, name: str, table: str, covered: set[str], where: Path) -> str:
    """``text`` with the block ``name`` holding ``table`` (header, separator, rows), after the block's earlier rows
    whose config file ``covered`` (the store's config files) lacks; :class:`UserError` when its markers are
    missing."""
    begin, end = _markers(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise UserError(f"{where} has no block {name!r}: put '{begin.strip()}' and '{end}' where the table goes")
    earlier = text[start + len(begin) : stop].splitlines(keepends=True)
    kept = [line for line in earlier if _config(line) not in covered | {None}]
    lines = table.splitlines(keepends=True)
    return text[: start + len(begin)] + "".join(lines[:2] + kept + lines[2:]) + text[stop:]


def drop_replaced(text: str, regenerated: set[str]) -> str:
    """``text`` without the hand-copied table rows whose first config file is in ``regenerated`` (file names)."""

    def keep_rows(block: re.Match) -> str:
        lines = block.group(0).splitlines(keepends=True)
        kept = [line for line in lines if not _replaced(line, regenerated)]
        rows = [line for line in kept if line.startswith("|") and not line.startswith("|---")]
        return "".join(kept) if len(rows) > 1 else ""  # the header alone is no table

    return _HAND_COPIED.sub(keep_rows, text)


def _config(line: str) -> str | None:
    """The config file of a table row (None for any other line)."""
    found = _CONFIG.search(line)
    return found.group(1) if line.startswith("|") and found else None


def _replaced(line: str, regenerated: set[str]) -> bool:
    return _config(line) in regenerated


def write_tables(path: Path, tables: dict[str, str], covered: set[str], regenerated: set[str]) -> bool:
    """Put each table of ``tables`` (block name → Markdown) into ``path``, keeping its rows of configs ``covered``
    lacks, and drop the hand-copied rows of ``regenerated`` configs; True when the file changed."""
    if not path.is_file():
        raise UserError(f"{path} not found: run 'attnops report' in the repository root, or give --root")
    before = path.read_text()
    text = before
    for name, content in tables.items():
        text = replace_block(text, name, content, covered, path)
    text = drop_replaced(text, regenerated)
    if text != before:
        path.write_text(text)
    return text != before

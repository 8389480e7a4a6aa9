"""``attnops data``: list, fetch and verify the catalogue's data sets; check a config's data before training."""

from __future__ import annotations

import argparse
from pathlib import Path

from attnops.pipelines.errors import UserError


def _root(args: argparse.Namespace) -> Path:
    from attnops.pipelines.data.location import data_dir

    return Path(args.root).expanduser().resolve() if args.root else data_dir()


def _list(args: argparse.Namespace) -> None:
    from attnops.pipelines.data.catalogue import CATALOGUE
    from attnops.pipelines.data.fetch import check_folder

    root = _root(args)
    print(f"data root: {root}")
    width = max(map(len, CATALOGUE))
    for name, data_set in CATALOGUE.items():
        folder = root / name
        state = f"present, digest {check_folder(data_set, folder).digest}" if folder.is_dir() else "not fetched"
        print(f"{name.ljust(width)}  {state:34}  {', '.join(data_set.tasks)}: {data_set.title}")
        if args.verbose:
            print(f"{'':{width}}  source: {data_set.source}\n{'':{width}}  licence: {data_set.licence}")
            print(f"{'':{width}}  cite: {data_set.citation}")


def _fetch(args: argparse.Namespace) -> None:
    from attnops.pipelines.data.fetch import fetch

    root = _root(args)
    root.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        check = fetch(name, root, args.base_url)
        print(f"{check.line()} ({check.folder})")


def _verify(args: argparse.Namespace) -> None:
    from attnops.pipelines.data.fetch import verify

    checks = verify(args.names, _root(args))
    for check in checks:
        print(check.line())
    if not checks:
        print(f"no catalogue data set in {_root(args)}")
    failed = [check.name for check in checks if not check.ok]
    if failed:
        raise UserError(f"{', '.join(failed)} do not match the catalogue; delete and fetch again")


def _check(args: argparse.Namespace) -> None:
    from attnops.pipelines.config import load_config
    from attnops.pipelines.data.check import check_data

    found = check_data(load_config(args.config, args.set))
    for line in found.lines():
        print(line)
    bad = sum(len(lines) for lines in found.problems.values())
    if bad:
        raise UserError(f"{bad} bad records in {found.folder} (listed above)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The ``data`` command group."""
    data = commands.add_parser(
        "data",
        help="list, fetch and verify data sets by name; check a config's data",
        description="Data sets live under $ATTNOPS_DATA_DIR, else a per-user data folder (e.g. "
        "~/.local/share/attnops/data). docs/data.md gives each data set's source, licence and the user's own "
        "data formats.",
    )
    actions = data.add_subparsers(dest="action", required=True, metavar="ACTION")
    root = dict(help="data root (default $ATTNOPS_DATA_DIR, else the per-user data folder)")

    listing = actions.add_parser("list", help="the catalogue: what is present, where, at which digest")
    listing.add_argument("--root", **root)
    listing.add_argument("-v", "--verbose", action="store_true", help="also each source, licence and citation")
    listing.set_defaults(func=_list)

    fetch = actions.add_parser(
        "fetch",
        help="download, verify and convert data sets",
        description="Download each data set from its pinned public source (resuming a cut download), check "
        "every pinned SHA-256, convert it, check the converted files, and only then move it into the data root.",
    )
    fetch.add_argument("names", nargs="+", metavar="NAME", help="data set names (see 'attnops data list')")
    fetch.add_argument("--root", **root)
    fetch.add_argument(
        "--base-url", help="a mirror serving <host>/<path> of each upstream URL ($ATTNOPS_DATA_BASE_URL)"
    )
    fetch.set_defaults(func=_fetch)

    own = actions.add_parser(
        "check",
        help="validate a config's own data (data.path) before training",
        description="Counts per split, length percentiles (words), blank and over-long records, duplicates "
        "and train/test overlap of the JSON Lines data a config's data.path names; each bad record by file:line. "
        "Exits 2 when there are bad records (over-long ones are only listed).",
    )
    own.add_argument("config", help="experiment config (YAML) whose data.path to check")
    own.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    own.set_defaults(func=_check)

    check = actions.add_parser("verify", help="re-check data sets in a data root against the catalogue")
    check.add_argument("names", nargs="*", metavar="NAME", help="data set names (default: every one present)")
    check.add_argument("--root", **root)
    check.set_defaults(func=_verify)

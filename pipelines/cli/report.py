"""``attnops report``: the docs' results tables, regenerated from the headline runs of the store."""

from __future__ import annotations

import argparse
from pathlib import Path


def _report(args: argparse.Namespace) -> None:
    from attnops.pipelines.report.headlines import tag_headline
    from attnops.pipelines.report.write import write_report

    for run_id in args.tag:
        tag_headline(run_id)
        print(f"tagged {run_id} as a headline")
    print("\n".join(write_report(Path(args.root)).lines()))


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="write the docs' results tables from the headline runs of the store",
        description="Find every run of the store tagged as a headline ('attnops train --headline', or --tag here), "
        "and write its test figures, the baseline the same run scored, and its provenance (run id, config file and "
        "the overrides it ran with, config digest, data digest, code commit, machine, date) between the markers "
        "of README.md and docs/results.md. Runs of one setting that differ only in their seed make one row, "
        "mean ± std. Hand-copied rows of a config whose shipped settings now have a regenerated row are removed.",
        epilog="example: attnops report --tag RUN_ID",
    )
    report.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="RUN_ID",
        help="tag a finished run as a headline first (repeatable)",
    )
    report.add_argument("--root", default=".", help="the repository root whose docs to write (default: .)")
    report.set_defaults(func=_report)

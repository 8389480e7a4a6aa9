"""Build the results tables from the store and write them into the README and ``docs/results.md``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines.report.docs import write_tables
from attnops.pipelines.report.headlines import Headline, group, headline_runs
from attnops.pipelines.report.tables import runs_table, summary_table

README = Path("README.md")
RESULTS = Path("docs/results.md")
HEADLINES_BLOCK = "headlines"
RUNS_BLOCK = "headline runs"
RUNS_ANCHOR = "docs/results.md#headline-runs"
"""Where the README's run links point: the heading above the runs table."""


@dataclass
class Written:
    """What ``attnops report`` did: the headlines it found and the docs it changed."""

    headlines: list[Headline]
    changed: list[Path]

    def lines(self) -> list[str]:
        runs = sum(len(h.runs) for h in self.headlines)
        found = [f"{len(self.headlines)} headline(s) from {runs} tagged run(s)"]
        found += [f"  {h.task}: {' '.join([h.config, *h.overrides])} ({len(h.runs)} run(s))" for h in self.headlines]
        return found + [f"rewrote {p}" for p in self.changed] + ([] if self.changed else ["the docs were up to date"])


def write_report(root: Path) -> Written:
    """Read every headline run of the store and write the tables into the docs under ``root``."""
    headlines = group(headline_runs())
    # A hand-copied row stands for its config as shipped: only a headline of that config without overrides
    # replaces it.
    regenerated = {h.config_file for h in headlines if h.shipped and not h.overrides}
    covered = {h.config_file for h in headlines}
    changed = []
    if write_tables(root / README, {HEADLINES_BLOCK: summary_table(headlines, RUNS_ANCHOR)}, covered, regenerated):
        changed.append(README)
    tables = {HEADLINES_BLOCK: summary_table(headlines, "#headline-runs"), RUNS_BLOCK: runs_table(headlines)}
    if write_tables(root / RESULTS, tables, covered, regenerated):
        changed.append(RESULTS)
    return Written(headlines, changed)

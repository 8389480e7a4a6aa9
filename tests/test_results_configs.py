"""Every config the results tables name is shipped and loads, so each headline can be re-run from it."""

from __future__ import annotations

import re

from attnops.pipelines.config import REPO_ROOT, load_config

RESULTS_DOCS = ("README.md", "docs/results.md")
CONFIG_NAME = re.compile(r"`([\w.-]+\.yaml)`")
OTHER_YAML = {"serve_config.yaml"}
"""YAML files the tables name that are not experiment configs."""


def _configs_named_in_tables() -> set[str]:
    named = set()
    for doc in RESULTS_DOCS:
        for line in (REPO_ROOT / doc).read_text().splitlines():
            if line.startswith("|"):
                named.update(CONFIG_NAME.findall(line))
    return named - OTHER_YAML


def test_every_config_named_in_a_results_table_is_shipped_and_parses():
    shipped = {path.name: path for path in (REPO_ROOT / "pipelines" / "configs").rglob("*.yaml")}
    named = _configs_named_in_tables()
    assert {"flickr8k-soft.yaml", "bbc-han-lexical.yaml", "transformer-tiny.yaml"} <= named
    assert not named - shipped.keys(), f"named in a results table but not shipped: {sorted(named - shipped.keys())}"
    for name in sorted(named):
        load_config(shipped[name])  # raises on unknown keys or bad values

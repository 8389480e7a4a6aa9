"""The package's layers (pyproject.toml's import-linter contracts) hold, and the wheel holds every package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

from attnops.pipelines.config import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_the_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([lint, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_package_folder_is_a_package_of_the_wheel():
    folders = PYPROJECT["tool"]["setuptools"]["package-dir"]
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for package, folder in folders.items():
        for init in sorted((REPO_ROOT / folder).rglob("__init__.py")):
            parts = init.parent.relative_to(REPO_ROOT / folder).parts
            name = ".".join((package, *parts))
            # A folder mapped to a package of its own (pipelines/cli is attnops.cli) is not its parent's too.
            if not any(init.parent == REPO_ROOT / other for other in folders.values() if other != folder):
                found.add(name)
    assert found == listed

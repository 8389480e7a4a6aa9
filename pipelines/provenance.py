"""Where a training run came from: the config file it was given, the code's commit and the machine it ran on.

Recorded as run tags when a run starts, so ``attnops report`` can print them beside every headline figure.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import psutil

from attnops.pipelines.config import REPO_ROOT

CONFIG_TAG = "attnops.config"
"""Run tag: the config file the run was given, relative to the repository root when it lies inside it."""
COMMIT_TAG = "attnops.code_commit"
"""Run tag: the commit of the code that trained the run, ``+changes`` when tracked files differed from it."""
MACHINE_TAG = "attnops.machine"
"""Run tag: architecture, CPU cores, memory and GPU of the machine that trained the run."""
HEADLINE_TAG = "attnops.headline"
"""Run tag: ``true`` for a run whose figures the results tables show (``attnops train --headline``,
``attnops report --tag RUN_ID``)."""


def config_name(path: Path) -> str:
    """``path`` relative to the repository root, or its file name when it lies outside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else path.name


def code_commit() -> str:
    """The checkout's commit (12 hex digits), with ``+changes`` when tracked files differ; ``unknown`` outside git."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=30)
        if done.returncode:
            raise OSError(done.stderr.strip())
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+changes" if changed else commit


def machine() -> str:
    """E.g. ``x86_64, 2 CPU cores, 24 GiB, no GPU``."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    memory = psutil.virtual_memory().total / 2**30
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {memory:.0f} GiB, {gpu}"


def provenance_tags(config_path: Path | None) -> dict[str, str]:
    """The tags a new training run gets: its config file (when it has one), the code's commit, the machine."""
    tags = {COMMIT_TAG: code_commit(), MACHINE_TAG: machine()}
    if config_path is not None:
        tags[CONFIG_TAG] = config_name(config_path)
    return tags

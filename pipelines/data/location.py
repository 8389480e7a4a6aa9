"""Where data sets live: ``$ATTNOPS_DATA_DIR``, else the platform's per-user data folder."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "ATTNOPS_DATA_DIR"
BASE_URL_ENV = "ATTNOPS_DATA_BASE_URL"
"""A mirror to fetch from instead of the public hosts: it serves ``<host>/<path>`` of each upstream URL."""


def data_dir() -> Path:
    """The data root: ``$ATTNOPS_DATA_DIR``, else e.g. ``~/.local/share/attnops/data`` (platformdirs)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    from platformdirs import user_data_path

    return user_data_path("attnops") / "data"

"""How `make test` shares the suite among pytest-xdist workers (`-n auto --dist loadscope`): each module is a unit
of work, so its fixtures run once, except the modules of one group, which form a single unit that one worker runs
in collection order.

xdist's own `--dist loadgroup` cannot do this with pytest 9.2: it appends the group to each test's id, which
pytest now derives from a structured id (pytest-dev/pytest-xdist#1386). Here each worker writes the groups it
collected to a file the controller named, and the controller's scheduler reads it when it forms the units (every
worker has collected by then)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

GROUPS_FILE_ENV = "ATTNOPS_TEST_GROUPS_FILE"


def announce(groups: dict[str, str]) -> None:
    """In a worker: the group of each grouped module (module path → group name) for the controller."""
    path = os.environ.get(GROUPS_FILE_ENV)
    if path and os.environ.get("PYTEST_XDIST_WORKER"):
        fd, scratch = tempfile.mkstemp(dir=Path(path).parent)
        with os.fdopen(fd, "w") as out:
            json.dump(groups, out)
        os.replace(scratch, path)  # workers collect the same tests: whichever lands last holds the same map


def announced() -> dict[str, str]:
    """In the controller, once the workers have collected: the groups they announced."""
    text = Path(os.environ[GROUPS_FILE_ENV]).read_text()
    return json.loads(text) if text else {}


def scope(nodeid: str, groups: dict[str, str]) -> str:
    """A test's unit of work: its module's group, else its module."""
    module = module_of(nodeid)
    return groups.get(module, module)


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class ModuleGroups(LoadScopeScheduling):
    """Load-scope scheduling whose scope is a test's module, or its module's group."""

    _groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            self._groups = announced()
        return scope(nodeid, self._groups)


class Controller:
    """The controller's side: names the file before the workers start, and makes the scheduler."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="attnops-test-groups-", suffix=".json")
        os.close(fd)
        self.path = path
        os.environ[GROUPS_FILE_ENV] = path  # the workers are started after pytest_configure and inherit it

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log) -> LoadScopeScheduling | None:
        return ModuleGroups(config, log) if config.getvalue("dist") == "loadscope" else None

    def pytest_unconfigure(self) -> None:
        Path(self.path).unlink(missing_ok=True)

"""`make test`'s scheduling: a module is one unit of work, and the modules of a group announced by the workers are
one unit together, whatever their order in the collection."""

from __future__ import annotations

from tests.worker_groups import GROUPS_FILE_ENV, announce, announced, scope


def test_a_group_is_one_scope_and_every_other_module_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv(GROUPS_FILE_ENV, str(tmp_path / "groups.json"))
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    announce({"tests/serving/test_a.py": "ray-drivers", "tests/test_b.py": "ray-drivers"})
    groups = announced()
    assert scope("tests/serving/test_a.py::test_one[x::y]", groups) == scope("tests/test_b.py::test_two", groups)
    assert scope("tests/test_b.py::Class::test_two", groups) == "ray-drivers"
    assert scope("tests/test_c.py::test_three", groups) == scope("tests/test_c.py::test_four", groups)
    assert scope("tests/test_c.py::test_three", groups) == "tests/test_c.py"


def test_nothing_is_announced_outside_a_worker(tmp_path, monkeypatch):
    monkeypatch.setenv(GROUPS_FILE_ENV, str(tmp_path / "groups.json"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    announce({"tests/test_b.py": "ray-drivers"})
    assert not (tmp_path / "groups.json").exists()

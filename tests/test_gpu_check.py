"""scripts/gpu-check.sh --dry-run: every step of the GPU check, on the CPU with a tiny model."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from attnops.pipelines.config import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.subprocess]


def test_gpu_check_dry_run_trains_checks_parity_and_prints_both_benchmarks(tmp_path):
    env = {**os.environ, "ATTNOPS_BIN": str(Path(sys.executable).parent)}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/gpu-check.sh"), "--dry-run"],
        capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "providers: " in out and "CPUExecutionProvider" in out
    assert re.search(r"parity on cpu: max \|Δlogits\| \S+ \(tolerance 0.0001\), greedy mismatches 0/\d+", out)
    assert re.search(r"^greedy\s+8\s+[\d.]+\s+[\d.]+\s+[\d.]+", out, re.M), "bench decode table"
    served = re.search(r"^service, dynamic batching\s+4\s+([\d.]+)", out, re.M)
    assert served and float(served.group(1)) > 0, "bench serve: (a) at 4 clients answered"
    assert re.search(r"^\(a\)/\(c\) throughput at 4 clients: [\d.]+x", out, re.M)
    assert "== gpu check done (cpu)" in out
    with closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:  # the test's own store, empty from the start
        experiments = db.execute("SELECT count(*) FROM experiments").fetchone()[0]
    assert experiments == 0, "the check keeps its runs in its own temporary store"


def test_gpu_check_without_wrk_fails_at_once_and_says_why(tmp_path):
    tools = tmp_path / "bin"  # a PATH with what the script needs before its first step, and no wrk
    tools.mkdir()
    (tools / "dirname").symlink_to(shutil.which("dirname"))
    env = {**os.environ, "PATH": str(tools), "ATTNOPS_BIN": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [shutil.which("bash"), str(REPO_ROOT / "scripts/gpu-check.sh"), "--dry-run"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["gpu-check: error: bench serve needs wrk (Debian: apt-get install wrk)"]
    assert "==" not in done.stdout, "no step ran"

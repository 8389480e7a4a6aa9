"""Runs that log the same new data set at the same moment (a study's trials on a cluster) all record it, on
an MLflow server on PostgreSQL, where MLflow's own ``log_input`` fails one of each pair on the unique key."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mlflow_server, pytest.mark.subprocess]

RACE = """
import multiprocessing as mp, sys, uuid
import mlflow
from attnops.pipelines import tracking

def log(barrier, name, digest, out):
    with mlflow.start_run() as run:
        barrier.wait()
        try:
            tracking.log_dataset(name, "file:///tmp/race", digest, {"train": 1})
            out.put(tracking.run_datasets(run.info.run_id) == [f"{name}@{digest}"])
        except Exception as exc:
            out.put(repr(exc)[:200])

mlflow.set_experiment("dataset-race")
ctx, results = mp.get_context("fork"), []
for _ in range(int(sys.argv[1])):
    barrier, out, name, digest = ctx.Barrier(2), ctx.Queue(), f"race-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:16]
    procs = [ctx.Process(target=log, args=(barrier, name, digest, out)) for _ in range(2)]
    [p.start() for p in procs]
    [p.join() for p in procs]
    results += [out.get() for _ in procs]
print(results)
"""


def test_two_runs_logging_one_new_data_set_at_once_both_record_it(postgres_mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", postgres_mlflow_server)
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    race = subprocess.run([sys.executable, "-c", RACE, "4"], capture_output=True, text=True, timeout=300)
    assert race.returncode == 0, race.stderr[-2000:]
    assert race.stdout.strip().splitlines()[-1] == str([True] * 8), race.stdout

"""Loopback clients that translate for as long as a rollout command runs, counting every outcome.

    python -m benchmarks.rollout_load --url http://127.0.0.1:P --model NAME -- attnops rollout NAME 3 --url ...

Each client sends German Multi30k test sentences one request at a time (bounded: ``--clients`` at once, at most
``--max-requests`` in all) and records the HTTP status and the version that answered. When the command ends, it
prints the outcomes, and for each step of the rollout it ran (read back from the registry's audit trail) the
share of requests the candidate answered against the step's configured share, with one standard error, and the
step's guard figures. A shadow rollout with every guard open (``--guard min_agreement=0 --guard
max_p95_ratio=1000 ...``) under it measures a candidate's figures for calibrating the defaults.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import itertools
import os
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from benchmarks.load_generator import LOOPBACK

EDGE_S = 1.5
"""Requests sent this close to a step's recorded start or end are left out of its share (the trail's times
have one-second resolution, and a request in flight may straddle the change)."""


@dataclass(frozen=True)
class Outcome:
    sent: float
    """Wall-clock time (epoch seconds) the request was sent."""
    status: int | None
    """HTTP status; None for a request that got no answer (connection error, timeout)."""
    version: str | None


def sentences(data_dir: Path, split: str) -> list[str]:
    with gzip.open(data_dir / "multi30k" / "raw" / f"{split}.de.gz", "rt", encoding="utf-8") as lines:
        return [line.strip() for line in lines if line.strip()]


def clients(url: str, texts: list[str], count: int, max_requests: int, stop: threading.Event) -> list[Outcome]:
    """Run ``count`` clients until ``stop`` is set or ``max_requests`` were sent; every outcome, in any order."""
    outcomes: list[Outcome] = []
    numbers = itertools.count()
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                with lock:
                    n = next(numbers)
                if n >= max_requests:
                    return
                sent = time.time()
                try:
                    response = http.post(f"{url}/v1/translate", json={"text": texts[n % len(texts)]})
                    version = response.json()["model"]["version"] if response.status_code == 200 else None
                    outcomes.append(Outcome(sent, response.status_code, version))
                except httpx.HTTPError:
                    outcomes.append(Outcome(sent, None, None))

    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    return outcomes


def _epoch(at: str) -> float:
    return float(calendar.timegm(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ")))


@dataclass(frozen=True)
class Step:
    mode: str
    share: float
    start: float
    end: float
    candidate: str
    guards: list[str]
    """The step's guard verdicts with their figures, as the trail holds them (empty if it ended unjudged)."""


def steps(model: str) -> list[Step]:
    """The steps of ``model``'s last rollout that carried traffic."""
    from attnops.pipelines import rollout

    events = rollout.history(model)
    if not events:
        return []
    last = [e for e in events if e["rollout"] == events[-1]["rollout"]]
    mode = next(e["mode"] for e in last if e["event"] == "start")
    return [
        Step(mode, event["share"], _epoch(event["at"]), _epoch(after["at"]), event["version"], after.get("guards", []))
        for event, after in itertools.pairwise(last)
        if event["event"] == "traffic"
    ]


def report(outcomes: list[Outcome], model: str) -> None:
    statuses = Counter("no answer" if o.status is None else str(o.status) for o in outcomes)
    versions = Counter(o.version for o in outcomes if o.status == 200)
    print(f"clients: {len(outcomes)} requests; status {dict(statuses)}; answered by version {dict(versions)}")
    for step in steps(model):
        inside = [o for o in outcomes if step.start + EDGE_S <= o.sent <= step.end - EDGE_S and o.status == 200]
        configured = step.share if step.mode == "canary" else 0.0
        title = f"{step.mode} {step.share:.0%} step ({step.end - step.start:.0f} s)"
        if inside:
            observed = sum(o.version == step.candidate for o in inside) / len(inside)
            error = (configured * (1 - configured) / len(inside)) ** 0.5
            print(
                f"{title}: {len(inside)} requests well inside, v{step.candidate} answered {observed:.1%} "
                f"(configured {configured:.0%}, one standard error {error:.1%})"
            )
        else:
            print(f"{title}: no request well inside it")
        if step.guards:
            print(f"  guards: {'; '.join(step.guards)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the service (loopback only)")
    parser.add_argument("--model", required=True, help="registered model name (its audit trail gives the steps)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ATTNOPS_DATA_DIR", "data")))
    parser.add_argument("--split", default="test_2017_flickr")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run under load")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in LOOPBACK:
        parser.error("--url must be a loopback address")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    stop = threading.Event()
    result: list[Outcome] = []
    load = threading.Thread(
        target=lambda: result.extend(
            clients(args.url.rstrip("/"), sentences(args.data_dir, args.split), args.clients, args.max_requests, stop)
        )
    )
    load.start()
    try:
        code = subprocess.run(command).returncode if command else 0
    finally:
        stop.set()
        load.join()
    report(result, args.model)
    raise SystemExit(code)


if __name__ == "__main__":
    main()

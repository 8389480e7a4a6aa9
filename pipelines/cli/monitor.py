"""``attnops reference`` and ``attnops monitor``: the drift reference of a run, and drift reports of traffic."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from attnops.pipelines.errors import UserError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def moment(value: str) -> datetime:
    """``--since``, ``--until``: a duration back from now (``30m``, ``24h``, ``7d``) or an ISO time (UTC unless
    it says)."""
    match = _DURATION.match(value)
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a duration (30m, 24h, 7d) nor an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _reference(args: argparse.Namespace) -> None:
    from attnops.pipelines.monitor.reference import log_reference

    result = log_reference(args.run_id)
    print(f"run {result.run_id}: reference of {result.sentences} validation sentences logged as {result.artifact}")


def _monitor(args: argparse.Namespace) -> None:
    from attnops.pipelines.monitor.report import monitor
    from attnops.pipelines.monitor.store import default_log_store

    report = monitor(args.name, args.store or default_log_store(), args.version, args.alias, args.since, args.until)
    print("\n".join(report.lines()))
    if report.artifact_path:
        print(f"report: {report.folder} (logged to run {report.run_id} as {report.artifact_path})")
    elif report.verdict == "too few records":
        raise UserError(f"{report.records} logged sentences for {args.name} version {report.version}: too few to "
                        "compare; send more traffic or widen --since")  # fmt: skip


def add_commands(commands: argparse._SubParsersAction) -> None:
    reference = commands.add_parser(
        "reference",
        help="compute a run's drift reference (signals of its validation split) and log it to the run",
        description="Decode the run's validation split with its ONNX export, as the service does, and log each "
        "sentence's signals (length, out-of-vocabulary share, confidence, attention entropy and coverage) as "
        "monitoring/reference.parquet: what 'attnops monitor' compares traffic with. Translation models.",
    )
    reference.add_argument("run_id", help="an exported run")
    reference.set_defaults(func=_reference)

    monitor = commands.add_parser(
        "monitor",
        help="drift report of a model's logged traffic against its training reference",
        description="Compare the sentences the service logged for a registered version with the signals of its "
        "validation split (population stability index and Kolmogorov-Smirnov per feature, with a verdict), "
        "plot both, list the most unusual sentences, log the report (HTML + PNG) to the version's run and tag "
        "the version with the figures, which the service exports as gauges on /metrics.",
    )
    monitor.add_argument("name", help="registered model name")
    monitor.add_argument("--version", help="registry version (default: the holder of --alias)")
    monitor.add_argument("--alias", default="champion", help="alias whose version to report on (default: champion)")
    monitor.add_argument("--since", type=moment, help="only traffic since then: 30m, 24h, 7d, or an ISO time")
    monitor.add_argument("--until", type=moment, help="only traffic before then (same forms; default: now)")
    monitor.add_argument(
        "--store",
        help="inference log store: postgresql://… or a Parquet folder (default: the service's default, Parquet "
        "files under the user's data folder, e.g. ~/.local/share/attnops/inference-log)",
    )
    monitor.set_defaults(func=_monitor)

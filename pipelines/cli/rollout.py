"""``attnops rollout``: a new version on the live service, step by step, guarded by live figures."""

from __future__ import annotations

import argparse
import json

from attnops.pipelines.command_args import comma_list
from attnops.pipelines.errors import UserError

DEFAULT_STEPS = "5,25,50,100"


def percentage(text: str) -> float:
    """``25`` → the share 0.25."""
    return float(text) / 100


def _rising_shares(shares: list[float]) -> str | None:
    if not all(0 < s <= 1 for s in shares) or shares != sorted(set(shares)):
        return "percentages must rise within (0, 100], e.g. 5,25,50,100"
    return None


percents = comma_list(percentage, _rising_shares)
"""``5,25,50,100`` → shares 0.05 … 1.0."""


def seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value


def _rollout(args: argparse.Namespace) -> None:

    if args.status:
        _status(args)
        return
    if args.abort:
        _abort(args)
        return
    if args.version is None:
        raise UserError("give the VERSION to roll out, or --status or --abort")
    _start(args)


def _start(args: argparse.Namespace) -> None:
    from attnops.pipelines import rollout
    from attnops.pipelines.inference.resolve import alias_holder, model_version
    from attnops.serving.rollout.controller import Service, roll_out
    from attnops.serving.rollout.guards import Guards

    guards = Guards.parse(args.guard)
    mode = "shadow" if args.shadow is not None else "canary"
    steps = args.shadow or args.canary or args.steps
    service = Service(args.url)
    model_version(args.name, args.version)
    champion = alias_holder(args.name, "champion")
    if champion is not None:
        service.report(
            champion.tags.get("task", "?")
        )  # a service that cannot take the split: refused before any change
    state = rollout.start(args.name, args.version, mode, steps)
    shares = " -> ".join(f"{s:.0%}" for s in steps)
    print(
        f"rolling out {args.name} v{state.version} ({mode} {shares}, {args.dwell:g} s a step) against v{state.champion}"
    )
    print(roll_out(state, service, guards, args.dwell))


def _abort(args: argparse.Namespace) -> None:
    """End the rollout in the registry, and the split on the service if it answers (a controller still
    running sees the rollout gone at its next look)."""
    from attnops.pipelines import rollout
    from attnops.serving.rollout.controller import Service

    state = rollout.abort(args.name)
    try:
        Service(args.url).clear(state.task)
        where = "every request goes to @champion"
    except UserError as exc:
        where = f"the service did not answer ({exc}); it holds no split once restarted"
    print(f"aborted the rollout of {args.name} v{state.version}; {where}")


def _status(args: argparse.Namespace) -> None:
    from attnops.pipelines import rollout
    from attnops.serving.rollout.controller import Service

    state = rollout.current(args.name)
    if state is None:
        print(f"no rollout of {args.name} is running")
        return
    shares = ",".join(f"{s:.0%}" for s in state.steps)
    started = f"started {state.started} by {state.by}"
    print(f"{args.name} v{state.version} against v{state.champion}: {state.mode} {shares}, {started}")
    try:
        report = Service(args.url).report(state.task)
    except UserError as exc:
        print(f"live figures: unavailable ({exc})")
        return
    print(json.dumps(report.model_dump(exclude={"challenger"}), indent=2))


def _guard_defaults() -> str:
    from attnops.serving.rollout.guards import Guards

    return ", ".join(f"{key}={field.default:g}" for key, field in Guards.model_fields.items())


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rollout",
        help="roll a new version out on the live service: canary or shadow steps, guarded, audited",
        description="Give VERSION the alias @challenger, which the service's challenger deployment loads, then "
        "send it a share of live requests step by step (--steps, or one --canary step), each for --dwell seconds. "
        "Each step is judged against the champion on the same requests: error rate, p95 latency, agreement of "
        "the two versions' answers, mean log-probability and attention entropy (--guard KEY=VALUE changes a "
        "threshold). A failed guard sends every request back to @champion at once and names the guard; passing "
        "every step promotes VERSION to @champion through the quality gate. --shadow sends the requests to both, "
        "answers from the champion only, and leaves @champion as it is. Clients that send the header "
        "X-Rollout-Key see one version for the whole rollout. Every step is recorded on the version "
        "('attnops models NAME --history').",
    )
    parser.add_argument("name", help="registered model name")
    parser.add_argument("version", nargs="?", help="the version to roll out (must pass the quality gate)")
    shares = parser.add_mutually_exclusive_group()
    shares.add_argument(
        "--steps", type=percents, default=percents(DEFAULT_STEPS), help=f"canary percentages (default {DEFAULT_STEPS})"
    )
    shares.add_argument("--canary", type=percents, metavar="P", help="one canary step of P percent, then promote")
    shares.add_argument(
        "--shadow",
        type=percents,
        nargs="?",
        const=[1.0],
        metavar="P",
        help="shadow P percent (default 100) of requests",
    )
    parser.add_argument("--dwell", type=seconds, default=60.0, help="seconds per step (default 60)")
    parser.add_argument(
        "--guard",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a guard threshold (repeatable); defaults: {_guard_defaults()}",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running service (default %(default)s)")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument("--status", action="store_true", help="show the running rollout and its live figures")
    actions.add_argument("--abort", action="store_true", help="stop the running rollout; traffic returns to @champion")
    parser.set_defaults(func=_rollout)

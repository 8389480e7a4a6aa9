"""``attnops study``: compare configs (attention variants) at one training budget, as one parent MLflow run."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

from attnops.pipelines.command_args import comma_list, positive

EXPERIMENT = "attnops-study"

_seeds = comma_list(int, lambda seeds: "seeds repeat" if len(set(seeds)) != len(seeds) else None)


def _study(args: argparse.Namespace) -> None:
    from attnops.pipelines.errors import UserError
    from attnops.pipelines.study.runner import default_output, resume_study, start_study
    from attnops.pipelines.study.spec import Budget, StudySpec, read_configs
    from attnops.pipelines.tasks import task_named

    signal.signal(signal.SIGTERM, _stop)  # the parent run is then marked KILLED, and can be resumed
    out = Path(args.out) if args.out else None
    if args.resume:
        if args.configs or args.budget_steps or args.budget_minutes or args.set:
            raise UserError("--resume continues a study with its own configs and budget: give none of them")
        result = resume_study(args.resume, args.experiment, out, print, run_trials=not args.table_only)
    else:
        if args.table_only:
            raise UserError("--table-only writes the table of an existing study: give --resume NAME_OR_RUN_ID")
        if not args.configs:
            raise UserError("give the experiment configs to compare (or --resume NAME_OR_RUN_ID)")
        if not (args.budget_steps or args.budget_minutes):
            raise UserError("give a budget: --budget-steps N or --budget-minutes M")
        task, configs = read_configs(args.configs, args.set)
        name = args.name or time.strftime("study-%Y%m%d-%H%M%S")
        try:
            budget = Budget(steps=args.budget_steps, minutes=args.budget_minutes, val_every=args.val_every)
        except ValueError as exc:
            raise UserError(f"bad budget: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        threshold = args.threshold if args.threshold is not None else task_named(task).headline.threshold
        spec = StudySpec(name=name, experiment=args.experiment, task=task, configs=configs, seeds=args.seeds,
                         budget=budget, threshold=threshold, overrides=args.set,
                         decode_sentences=args.decode_sentences, cpus_per_trial=args.cpus_per_trial)  # fmt: skip
        result = start_study(spec, out or default_output(name), print)
    print()
    print(result.report.table)
    print("written: " + ", ".join(str(path) for path in result.report.files))
    ran = "" if args.table_only else f"study wall time: {result.seconds / 60:.1f} min; "
    print(f"{ran}parent run {result.parent_id}")
    if result.failures:
        raise UserError(f"{len(result.failures)} trial(s) failed (listed above); after fixing the cause, run "
                        f"'attnops study --resume {result.parent_id}' to run only those")  # fmt: skip


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    study = commands.add_parser(
        "study",
        help="compare configs at one training budget (child runs under one parent run)",
        description="Train each CONFIG at each seed with the same budget, as child MLflow runs of one parent run; "
        "export each behind the parity gate and time its decoding; then print and write a table (test figures, "
        "parameters, training tokens/s, time to reach --threshold, decode ms/sentence in PyTorch eager and ONNX "
        "Runtime, parity) and plots (validation metric against wall time; quality against decode speed), also "
        "logged to the parent run. Trials run as Ray tasks ($RAY_ADDRESS's cluster, else a local Ray), each "
        "reserving a whole node by default: in parallel on a cluster, one after another on one machine. An "
        "interrupted study continues with --resume, skipping the trials that finished.",
        epilog="example: attnops study pipelines/configs/translation/gru-*.yaml --budget-minutes 4 --seeds 1,2,3",
    )
    study.add_argument("configs", nargs="*", metavar="CONFIG", help="experiment YAML files of one task")
    budget = study.add_mutually_exclusive_group()
    budget.add_argument("--budget-steps", type=positive, metavar="N", help="train each trial for N optimizer steps")
    budget.add_argument(
        "--budget-minutes", type=float, metavar="M", help="train each trial for M wall minutes (validation included)"
    )
    study.add_argument(
        "--val-every", type=positive, default=50, metavar="N",
        help="validate every N steps: the points of the curve and of time-to-threshold (default 50)",
    )  # fmt: skip
    study.add_argument(
        "--seeds", type=_seeds, default=[42], metavar="S1,S2,...",
        help="train every config at each seed; the table gives mean ± std (default 42)",
    )  # fmt: skip
    study.add_argument(
        "--threshold", type=float,
        help="time how long each trial takes to reach this value of its task's validation metric "
        "(default: the task's, 28.3 lowercased BLEU for translation)",
    )  # fmt: skip
    study.add_argument("--name", help="the study's name: its parent run and output folder (default: study-TIME)")
    study.add_argument(
        "--resume", metavar="NAME_OR_RUN_ID",
        help="continue a study (its name or parent run id): run only the trials without a finished child",
    )  # fmt: skip
    study.add_argument(
        "--table-only", action="store_true",
        help="with --resume: write the table and plots of the trials finished so far, and train nothing",
    )  # fmt: skip
    study.add_argument("--experiment", default=EXPERIMENT, help=f"MLflow experiment (default {EXPERIMENT})")
    study.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a value of every config (repeatable)"
    )
    study.add_argument(
        "--decode-sentences", type=positive, default=64, metavar="N",
        help="sentences of the parity split each decode timing runs (default 64)",
    )  # fmt: skip
    study.add_argument(
        "--cpus-per-trial", type=positive, metavar="N", help="CPUs each trial reserves (default: a whole node)"
    )
    study.add_argument("--out", help="folder for the table and plots (default docs/study/NAME)")
    study.set_defaults(func=_study)

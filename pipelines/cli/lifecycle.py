"""The lifecycle commands, the same for every task: train, evaluate, export, register, promote, rollback, models,
runs."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from attnops.pipelines.command_args import positive


def _train(args: argparse.Namespace) -> None:
    from attnops.pipelines.config import load_config
    from attnops.pipelines.errors import UserError
    from attnops.pipelines.train import resume, train

    signal.signal(signal.SIGTERM, _stop)  # the run is then marked KILLED, not left RUNNING
    if args.resume:
        if args.config or args.set or args.workers:
            raise UserError("--resume continues a run with its own config: give no config, --set or --workers")
        print("\n".join(resume(args.resume).lines()))
        return
    if not args.config:
        raise UserError("give an experiment config (or --resume RUN_ID)")
    overrides = args.set + ([f"train.workers={args.workers}"] if args.workers else [])
    print("\n".join(train(load_config(args.config, overrides), Path(args.config)).lines()))


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def _runs(args: argparse.Namespace) -> None:
    from attnops.pipelines.runs import list_runs

    rows = list_runs(args.experiment)
    if not rows:
        print("no runs")
        return
    header = ("RUN ID", "NAME", "EXPERIMENT", "STATE", "EPOCHS", "STARTED")
    state = {True: " resumable", False: ""}
    _print_table(
        header,
        [(r.run_id, r.name, r.experiment, r.state + state[r.resumable], str(r.epochs), r.started) for r in rows],
    )


def _evaluate(args: argparse.Namespace) -> None:
    from attnops.pipelines.evaluate import evaluate_run
    from attnops.pipelines.inference.decoding import SearchOverride

    result = evaluate_run(args.run_id, args.split, SearchOverride(args.beam_size, args.length_penalty))
    print("\n".join([*result.metric_lines(), *result.sample_lines()]))


def _export(args: argparse.Namespace) -> None:
    from attnops.pipelines.export import export_run

    if args.parity_on:
        from attnops.pipelines.errors import UserError
        from attnops.pipelines.export import check_parity_on

        check = check_parity_on(args.run_id, args.parity_on)
        print(f"parity on {args.parity_on}: {check.summary}")
        if not check.parity.passed:
            raise UserError(f"parity on {args.parity_on} failed for run {args.run_id}")
        return
    quantize = None if args.quantize == "none" else args.quantize
    print("\n".join(export_run(args.run_id, quantize, args.overwrite).lines()))


def _register(args: argparse.Namespace) -> None:
    from attnops.pipelines.registry import register

    created = register(args.run_id, args.name)
    print(f"registered {created.name} version {created.version} (models:/{created.name}/{created.version})")


def _promote(args: argparse.Namespace) -> None:
    from attnops.pipelines.registry import promote

    done = promote(args.name, args.version, args.alias, args.force)
    before = f" (was v{done.previous})" if done.previous else ""
    forced = " [forced past the quality gate]" if done.forced else ""
    print(f"{done.name}@{done.alias} -> version {done.version}{before}{forced}")


def _rollback(args: argparse.Namespace) -> None:
    from attnops.pipelines.registry import rollback

    done = rollback(args.name, args.alias)
    print(f"{done.name}@{done.alias} -> version {done.version} (was v{done.previous})")


def _models(args: argparse.Namespace) -> None:
    from attnops.pipelines.registry import list_versions

    rows = list_versions(args.name)
    if not rows:
        print("no registered models")
        return
    header = ("NAME", "VERSION", "ALIASES", "TASK", "ATTENTION", "GATE METRIC", "VALUE", "PARITY", "SERVES", "CREATED")
    header += ("OVERRIDES", "DATA")
    rows = [
        (
            r.name,
            r.version,
            ",".join(r.aliases) or "-",
            r.task,
            r.attention,
            r.gate_metric,
            r.gate_value,
            r.parity,
            r.serves,
            r.created,
            ",".join(r.overrides) or "-",
            r.data or "-",
        )  # fmt: skip
        for r in rows
    ]
    _print_table(header, rows)


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def add_commands(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="run a tracked training run",
        description="Train a model from an experiment YAML file (its 'task' picks the task), evaluate it on the "
        "test split(s) and log everything to a new MLflow run. The run id is the last line printed.",
    )
    train.add_argument("config", nargs="?", help="experiment YAML, e.g. pipelines/configs/translation/demo.yaml")
    train.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue an interrupted run (see 'attnops runs') from its last epoch-end checkpoint, in the same run",
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted key (repeatable), e.g. --set train.max_epochs=2",
    )
    train.add_argument(
        "--workers",
        type=positive,
        help="data-parallel workers on Ray Train (DDP; the cluster of $RAY_ADDRESS, else a local Ray); "
        "the same as --set train.workers=N",
    )
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="re-evaluate a run's best checkpoint",
        description="Score a run's best checkpoint on its task's test splits (BLEU, accuracy, ROUGE, CIDEr) and log "
        "the figures and attention pictures to that run.",
        epilog="example: attnops evaluate RUN_ID --split val --beam-size 5 --length-penalty 0.6",
    )
    evaluate.add_argument("run_id", help="MLflow run id printed by 'attnops train'")
    evaluate.add_argument("--split", help="one split (default: every test split)")
    evaluate.add_argument("--beam-size", type=int, help="beam size (default: the run's train.eval_beam_size)")
    evaluate.add_argument(
        "--length-penalty",
        type=float,
        metavar="ALPHA",
        help="GNMT length penalty of beam search, 0 for none (default: the run's train.length_penalty); with "
        "--split val and --beam-size, how to choose decoding settings without touching test. Figures of "
        "settings other than the run's own are logged with a suffix (e.g. val_cider_beam5_lp0.6)",
    )
    evaluate.set_defaults(func=_evaluate)

    export = commands.add_parser(
        "export",
        help="export a run to ONNX (parity-checked) as an MLflow model",
        description="Export a run's best checkpoint as ONNX graphs (e.g. encoder and decoder step), check that "
        "ONNX Runtime matches PyTorch (outputs on fresh shapes, predictions on the parity split), and log "
        "graphs, tokenizer and config to the run as one MLflow pyfunc model. Prints that model's URI.",
    )
    export.add_argument("run_id", help="MLflow run id printed by 'attnops train'")
    export.add_argument(
        "--quantize", choices=["auto", "int8", "none"], default="auto",
        help="also write dynamically INT8-quantized graphs, kept and served by default if they pass the INT8 gate "
        "(export.max_quantized_drop); auto (default): where the task has INT8 graphs",
    )  # fmt: skip
    export.add_argument("--overwrite", action="store_true", help="replace the run's existing export")
    export.add_argument(
        "--parity-on",
        choices=["cpu", "cuda"],
        help="only check parity again with ONNX Runtime on this device (nothing is exported or logged)",
    )
    export.set_defaults(func=_export)

    register = commands.add_parser(
        "register",
        help="register a run's export as a new model version",
        description="Create a model version from an exported run (one that passed its parity check), tagged "
        "with task, attention variant, gate metric, parity figures and source run.",
    )
    register.add_argument("run_id", help="an exported run")
    register.add_argument("--name", help="registered model name (default: the run's registry.model_name)")
    register.set_defaults(func=_register)

    promote = commands.add_parser(
        "promote",
        help="point an alias at a version, behind the quality gate",
        description="Move ALIAS to VERSION if its gate metric (e.g. test BLEU) is at least the current "
        "holder's minus the configured tolerance. The previous holder is remembered for 'rollback'.",
    )
    promote.add_argument("name", help="registered model name")
    promote.add_argument("version", help="version number")
    promote.add_argument("--alias", default="champion", help="alias to move (default: champion)")
    promote.add_argument("--force", action="store_true", help="promote past the gate; recorded as a version tag")
    promote.set_defaults(func=_promote)

    rollback = commands.add_parser(
        "rollback",
        help="move an alias back to its previous holder",
        description="Point ALIAS back at the version that held it before the current one.",
    )
    rollback.add_argument("name", help="registered model name")
    rollback.add_argument("--alias", default="champion", help="alias to move back (default: champion)")
    rollback.set_defaults(func=_rollback)

    models = commands.add_parser(
        "models",
        help="list registered models and versions",
        description="Print versions, aliases, task, attention variant, gate metric, creation time and the data each "
        "version trained on (NAME@DIGEST, digests as 'attnops data list' shows them).",
    )
    models.add_argument("name", nargs="?", help="only this registered model")
    models.set_defaults(func=_models)

    runs = commands.add_parser(
        "runs",
        help="list training runs; find interrupted ones",
        description="Print runs, newest first, with their state. A RUNNING run whose training process has died "
        "(killed, machine restarted) is marked KILLED in MLflow and shown as INTERRUPTED; continue it with "
        "'attnops train --resume RUN_ID'.",
    )
    runs.add_argument("--experiment", help="only this experiment (default: all)")
    runs.set_defaults(func=_runs)

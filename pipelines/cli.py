"""The ``attnops`` command line: one entry point for every pipeline stage."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pipelines.errors import UserError


def _train(args: argparse.Namespace) -> None:
    from pipelines.config import load_config
    from pipelines.train import train

    config = load_config(args.config, args.set)
    result = train(config, Path(args.config))
    for name, value in sorted(result.evaluation.metrics.items()):
        print(f"{name}: {value:.2f}")
    print(result.run_id)


def _evaluate(args: argparse.Namespace) -> None:
    from pipelines import tracking
    from pipelines.evaluate import evaluate_run

    result = evaluate_run(args.run_id, args.split, args.beam_size)
    for name, value in sorted(result.metrics.items()):
        print(f"{name}: {value:.2f}")
    for sample in result.samples:
        print(f"SRC: {sample.source}\nHYP: {sample.text}")
    if result.heatmaps:
        print(f"attention heat-map: {tracking.artifact_location(args.run_id, f'attention/{result.heatmaps[0].name}')}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnops",
        description="Train, evaluate and track attention models. Runs are logged to MLflow "
        "($MLFLOW_TRACKING_URI, default sqlite:///mlflow.db in the working directory).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="run a tracked training run",
        description="Train a model from an experiment YAML file, evaluate it on the test splits and log "
        "everything to a new MLflow run. The run id is the last line printed.",
    )
    train.add_argument("config", help="experiment YAML, e.g. pipelines/configs/translation/demo.yaml")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted key (repeatable), e.g. --set train.max_epochs=2",
    )
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="re-evaluate a run's best checkpoint",
        description="Translate test splits with a run's best checkpoint and log BLEU and heat-maps to that run.",
    )
    evaluate.add_argument("run_id", help="MLflow run id printed by 'attnops train'")
    evaluate.add_argument("--split", help="one split (default: every test split)")
    evaluate.add_argument("--beam-size", type=int, help="beam size (default: the run's train.eval_beam_size)")
    evaluate.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"attnops: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

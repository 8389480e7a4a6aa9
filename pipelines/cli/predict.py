"""``attnops predict``: offline batch prediction over input files, for every task, on Ray Data."""

from __future__ import annotations

import argparse
from pathlib import Path

from attnops.pipelines.command_args import MODEL_URI_HELP, positive


def _predict(args: argparse.Namespace) -> None:
    from attnops.pipelines.offline.job import NODE_ID_CHARS, PredictJob, run_job
    from attnops.pipelines.offline.rows import Batching

    batching = Batching(
        max_rows=args.batch_rows,
        max_tokens=args.batch_tokens or None,
        by_length=args.batching == "length",
        max_row_bytes=args.max_row_bytes,
    )
    job = PredictJob(
        model=args.model, inputs=args.input, output=args.output, format=args.format, precision=args.precision,
        actors=args.actors, threads=args.threads, block_rows=args.block_rows, batching=batching,
    )  # fmt: skip
    result = run_job(job)
    print(f"rows: {result.rows}  errors: {result.errors}  predicted now: {result.predicted}")
    steady = f" ({result.steady_rows_per_s:.1f} after the first block)" if result.steady_rows_per_s else ""
    print(f"rate: {result.rows_per_s:.1f} rows/s over {result.seconds:.1f} s{steady}")
    if result.nodes:
        rows = ", ".join(f"{node[:NODE_ID_CHARS]} {n}" for node, n in sorted(result.nodes.items()))
        print(f"nodes: {len(result.nodes)} (rows by Ray node id: {rows})")
    print(f"run: {result.run_id}")
    print(result.path)


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict",
        help="predict input files with an exported model on Ray Data (any task; resumable)",
        description="Predict every row of the input files (JSONL, CSV, Parquet, or a folder with one input per "
        "file) with an exported model, on Ray Data. The output folder gets predictions.<format> with each row's "
        "id, the model's outputs and an error (null where the row was predicted). Run the same command again "
        "after an interruption: finished blocks are kept. Each job is an MLflow run in 'attnops-predict'.",
    )
    parser.add_argument("--model", required=True, help=MODEL_URI_HELP)
    parser.add_argument("--input", required=True, nargs="+", type=Path, metavar="PATH", help="input files or folders")
    parser.add_argument("--output", required=True, type=Path, metavar="DIR", help="output folder (new, or a job's)")
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet", help="output format")
    parser.add_argument("--precision", choices=["fp32", "int8"], help="graphs to run (default: the export's)")
    parser.add_argument("--actors", type=positive, default=1, help="model copies (Ray actors); default 1")
    parser.add_argument("--threads", type=positive, default=1, help="CPU threads per actor; default 1")
    parser.add_argument("--block-rows", type=positive, default=1000, help="rows per block (unit of resume)")
    parser.add_argument("--batch-rows", type=positive, default=32, help="most rows per model batch; default 32")
    parser.add_argument(
        "--batch-tokens", type=int, default=1024, help="most rows x longest row (words) per batch; 0: no budget"
    )
    parser.add_argument(
        "--batching", choices=["length", "arrival"], default="length",
        help="group rows of similar length (default), or batch them in input order",
    )  # fmt: skip
    parser.add_argument(
        "--max-row-bytes", type=positive, default=1_000_000, help="a longer row gets an error row; default 1 MB"
    )
    parser.set_defaults(func=_predict)

"""``attnops bench``: benchmarks that print figures (the programs live in the ``benchmarks`` package)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from attnops.benchmarks.systems import SYSTEMS
from attnops.pipelines.command_args import MODEL_URI_HELP, positive


def _bench_decode(args: argparse.Namespace) -> None:
    from attnops.benchmarks.decode import bench_decode, format_report
    from attnops.pipelines.inference.resolve import resolve

    batch_sizes = tuple(args.batch_sizes)
    result = bench_decode(resolve(args.model).bundle, args.sentences, batch_sizes, args.threads, args.device)
    print(format_report(result, batch_sizes))


def _bench_serve(args: argparse.Namespace) -> None:
    from attnops.benchmarks.serve import bench_serve, format_report

    clients, systems = tuple(args.clients), tuple(args.systems)
    bench = bench_serve(args.model, systems, clients, args.seconds, args.rounds, args.replica_gpus)
    print(format_report(bench, systems, clients))


def _bench_predict(args: argparse.Namespace) -> None:
    from attnops.benchmarks.predict import bench_predict, format_report

    bench = bench_predict(args.model, args.input, args.rounds, args.threads, args.batch_rows, args.block_rows)
    print(format_report(bench))


def add_commands(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks that print figures")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    decode = benches.add_parser(
        "decode",
        help="decode speed: PyTorch eager vs ONNX Runtime fp32 vs INT8",
        description="Milliseconds per sentence for greedy and beam-4 search at several batch sizes, on "
        "test_2016_flickr sentences, for PyTorch eager (the source run's checkpoint), ONNX Runtime fp32 and "
        "INT8 (quantized on the fly if the export has none), with the ratios and BLEU.",
    )
    decode.add_argument("--model", required=True, help=MODEL_URI_HELP)
    decode.add_argument("--sentences", type=positive, default=200, help="sentences to decode (default 200)")
    decode.add_argument("--batch-sizes", type=positive, nargs="+", default=[1, 8, 32], help="default: 1 8 32")
    decode.add_argument(
        "--threads", type=positive, default=os.cpu_count() or 1, help="threads for every backend (default: all)"
    )
    decode.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where every backend runs (default: cpu)"
    )
    decode.set_defaults(func=_bench_decode)
    predict = benches.add_parser(
        "predict",
        help="attnops predict against the same model in-process; batches by length against first come",
        description="Rows per second over one input file, each round in turn: the task's predict_frame in this "
        "process on consecutive --batch-rows batches, then attnops predict (one Ray actor) with batches by length, "
        "then with batches in input order; the mean and range over rounds, and the ratios round by round.",
    )
    predict.add_argument("--model", required=True, help=MODEL_URI_HELP)
    predict.add_argument("--input", required=True, type=Path, help="one input file (JSONL, CSV or Parquet)")
    predict.add_argument("--rounds", type=positive, default=3, help="default 3")
    predict.add_argument("--threads", type=positive, default=os.cpu_count() or 1, help="default: all cores")
    predict.add_argument("--batch-rows", type=positive, default=32, help="default 32")
    predict.add_argument("--block-rows", type=positive, default=100, help="rows per block of the job; default 100")
    predict.set_defaults(func=_bench_predict)
    serve_bench = benches.add_parser(
        "serve",
        help="REST throughput and latency: the service's designs against each other and mlflow models serve",
        description="Each system is started in turn on 127.0.0.1 as its own server process on the same model, "
        "and wrk (Debian package 'wrk', a process of its own) sends every test_2016_flickr sentence (greedy) at "
        "each client count for --seconds; every round first decodes them in this process (batches of 32, and "
        "twelve-word sentences one at a time), then repeats all systems, and the report gives the mean and range "
        "over rounds: throughput, p50/p99, wrk's CPU share, the ratios, the largest count's rate against the "
        "in-process batch-32 rate, GET /healthz at the largest client count, single-client GET /healthz and "
        "GET /v1/models (the hop to the model), and the single-client latency of twelve-word sentences minus "
        "their in-process decode time (the serving overhead). Systems: "
        + "; ".join(f"{k}: {v.label}" for k, v in SYSTEMS.items())
        + ".",
    )
    serve_bench.add_argument("--model", default="models:/translation-de-en@champion", help=MODEL_URI_HELP)
    serve_bench.add_argument(
        "--systems", nargs="+", choices=list(SYSTEMS), default=["before", "a", "b", "c"], help="default: before a b c"
    )
    serve_bench.add_argument("--clients", type=positive, nargs="+", default=[1, 64], help="default: 1 64")
    serve_bench.add_argument("--seconds", type=positive, default=10, help="seconds per level (default 10)")
    serve_bench.add_argument("--rounds", type=positive, default=3, help="rounds over all systems (default 3)")
    serve_bench.add_argument(
        "--replica-gpus", type=float, default=0, help="GPUs for the Translator replica (default 0; 1 runs ORT on CUDA)"
    )
    serve_bench.set_defaults(func=_bench_serve)

"""``attnops bench``: benchmarks that print figures (the programs live in the ``benchmarks`` package)."""

from __future__ import annotations

import argparse
import os

from pipelines.cli.args import MODEL_URI_HELP, positive


def _bench_decode(args: argparse.Namespace) -> None:
    from benchmarks.decode import bench_decode, format_report
    from pipelines.inference.resolve import resolve

    batch_sizes = tuple(args.batch_sizes)
    result = bench_decode(resolve(args.model).bundle, args.sentences, batch_sizes, args.threads)
    print(format_report(result, batch_sizes))


def _bench_serve(args: argparse.Namespace) -> None:
    from benchmarks.serve import bench_serve, format_report

    clients = tuple(args.clients)
    print(format_report(bench_serve(args.model, args.requests, args.time_limit, clients), clients))


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
    decode.set_defaults(func=_bench_decode)
    serve_bench = benches.add_parser(
        "serve",
        help="REST throughput and latency: batching vs no batching vs mlflow models serve",
        description="Start the service on 127.0.0.1 with dynamic batching (a) and with max_batch_size=1 (b), "
        "then 'mlflow models serve' on the same model (c); send test_2016_flickr sentences (greedy) at each "
        "client count, bounded by --requests and --time-limit per level; print throughput, p50/p99 latency, "
        "the ratios, single-client latency for 12-word sentences and achieved FLOP/s against the measured "
        "matrix-multiply peak.",
    )
    serve_bench.add_argument("--model", default="models:/translation-de-en@champion", help=MODEL_URI_HELP)
    serve_bench.add_argument("--requests", type=positive, default=300, help="requests per level (default 300)")
    serve_bench.add_argument("--time-limit", type=float, default=60.0, help="seconds per level (default 60)")
    serve_bench.add_argument("--clients", type=positive, nargs="+", default=[1, 16, 64], help="default: 1 16 64")
    serve_bench.set_defaults(func=_bench_serve)

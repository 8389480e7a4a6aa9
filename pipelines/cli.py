"""The ``attnops`` command line: one entry point for every pipeline stage."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from infra.cli import add_stack_parser
from pipelines.errors import UserError


def _train(args: argparse.Namespace) -> None:
    from pipelines.caption_train import train_captioner
    from pipelines.config import CaptioningConfig, DocumentConfig, load_config
    from pipelines.train import train
    from pipelines.train_documents import train_documents

    config = load_config(args.config, args.set + ([f"train.workers={args.workers}"] if args.workers else []))
    if isinstance(config, CaptioningConfig):
        captioned = train_captioner(config, Path(args.config))
        for name, value in sorted(captioned.evaluation.metrics.items()):
            print(f"{name}: {value:.3f}" if name.endswith("cider") else f"{name}: {value:.2f}")
        print(f"training wall time: {captioned.train_seconds:.0f} s")
        print(captioned.run_id)
        return
    trainer = train_documents if isinstance(config, DocumentConfig) else train
    result = trainer(config, Path(args.config))
    for name, value in sorted(result.evaluation.metrics.items()):
        print(f"{name}: {value:.2f}")
    print(result.run_id)


def _evaluate(args: argparse.Namespace) -> None:
    from pipelines import tracking
    from pipelines.caption_run import CAPTION_SPLITS, evaluate_caption_run
    from pipelines.config import CaptioningConfig, DocumentConfig
    from pipelines.data import TEST_SPLITS
    from pipelines.document_data import DOCUMENT_SPLITS
    from pipelines.evaluate import evaluate_run
    from pipelines.evaluate_documents import evaluate_document_run
    from pipelines.run_model import load_run_config

    known = ("val", *TEST_SPLITS, *DOCUMENT_SPLITS, *CAPTION_SPLITS)
    if args.split is not None and args.split not in known:  # before any download
        raise UserError(f"unknown split {args.split!r}; choose one of: {', '.join(dict.fromkeys(known))}")
    config = load_run_config(args.run_id)
    if isinstance(config, CaptioningConfig):
        captions = evaluate_caption_run(args.run_id, config, args.split, args.beam_size)
        for name, value in sorted(captions.metrics.items()):
            print(f"{name}: {value:.3f}" if "cider" in name else f"{name}: {value:.2f}")
        for image, caption in captions.samples:
            print(f"{image}: {caption.text}")
        return
    if isinstance(config, DocumentConfig):
        evaluation = evaluate_document_run(args.run_id, config, args.split or "test")
        for name, value in sorted(evaluation.metrics.items()):
            print(f"{name}: {value:.2f}")
        print("\n".join(evaluation.samples))
        return
    result = evaluate_run(args.run_id, args.split, args.beam_size)
    for name, value in sorted(result.metrics.items()):
        print(f"{name}: {value:.2f}")
    for sample in result.samples:
        print(f"SRC: {sample.source}\nHYP: {sample.text}")
    if result.heatmaps:
        print(f"attention heat-map: {tracking.artifact_location(args.run_id, f'attention/{result.heatmaps[0].name}')}")


def _export(args: argparse.Namespace) -> None:
    from pipelines.caption_export import export_caption_run
    from pipelines.config import CaptioningConfig, DocumentConfig, TranslationConfig
    from pipelines.export import export_run
    from pipelines.export_documents import export_document_run
    from pipelines.run_model import load_run_config

    config = load_run_config(args.run_id)
    if args.quantize and not isinstance(config, TranslationConfig):
        raise UserError("--quantize is available for translation models only")
    if isinstance(config, DocumentConfig):
        result = export_document_run(args.run_id, config, args.overwrite)
        compared = "predictions identical on {n}/{n} documents"
    elif isinstance(config, CaptioningConfig):
        result = export_caption_run(args.run_id, config, args.overwrite)
        compared = f"relative |dgrid| {result.bundle.manifest.parity.max_rel_grid:.2e}, greedy captions identical on "
        compared += "{n}/{n} photos"
    else:
        result = export_run(args.run_id, args.quantize, args.overwrite)
        compared = "greedy identical on {n}/{n} sentences"
    parity = result.bundle.manifest.parity
    print(
        f"parity passed: max |dlogits| {parity.max_abs_logits:.2e} (tolerance {parity.tolerance:g}), "
        + compared.format(n=parity.greedy_sentences)
    )
    for name, value in sorted(result.metrics.items()):
        if "bleu" in name:
            print(f"{name}: {value:.2f}")
    print(result.model_uri)


def _register(args: argparse.Namespace) -> None:
    from pipelines.registry import register

    created = register(args.run_id, args.name)
    print(f"registered {created.name} version {created.version} (models:/{created.name}/{created.version})")


def _promote(args: argparse.Namespace) -> None:
    from pipelines.registry import promote

    done = promote(args.name, args.version, args.alias, args.force)
    before = f" (was v{done.previous})" if done.previous else ""
    forced = " [forced past the quality gate]" if done.forced else ""
    print(f"{done.name}@{done.alias} -> version {done.version}{before}{forced}")


def _rollback(args: argparse.Namespace) -> None:
    from pipelines.registry import rollback

    done = rollback(args.name, args.alias)
    print(f"{done.name}@{done.alias} -> version {done.version} (was v{done.previous})")


def _models(args: argparse.Namespace) -> None:
    from pipelines.registry import list_versions

    rows = list_versions(args.name)
    if not rows:
        print("no registered models")
        return
    header = ("NAME", "VERSION", "ALIASES", "TASK", "ATTENTION", "GATE METRIC", "VALUE", "PARITY", "CREATED")
    table = [header] + [
        (
            r.name,
            r.version,
            ",".join(r.aliases) or "-",
            r.task,
            r.attention,
            r.gate_metric,
            r.gate_value,
            r.parity,
            r.created,
        )  # fmt: skip
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _translate(args: argparse.Namespace) -> None:
    from pipelines.alignment import text_grid
    from pipelines.translate import search_settings, translate

    if not args.texts or not all(t.strip() for t in args.texts):
        raise UserError("give at least one non-empty sentence to translate")
    bundle = _bundle_for(args.model, "translation")
    runtime = bundle.config.runtime.model_copy(update={"precision": args.precision or bundle.config.runtime.precision})
    settings = search_settings(bundle.config, bundle.codec, args.beam_size)
    for result in translate(bundle.backend(runtime), bundle.codec, args.texts, settings):
        print(result.text)
        if args.show_attention:
            print(text_grid(result.attention, result.source_tokens, result.target_tokens), file=sys.stderr)


def _documents(texts: list[str]) -> list[str]:
    """Command-line documents: '-' reads standard input; empty documents are refused."""
    documents = [sys.stdin.read() if text == "-" else text for text in texts]
    if not documents or not all(d.strip() for d in documents):
        raise UserError("give at least one non-empty document (or '-' to read one from standard input)")
    return documents


def _bundle_for(uri: str, task: str):
    """The export ``uri`` names, which must hold a model of ``task``."""
    from pipelines.registry import resolve

    bundle = resolve(uri).bundle
    if bundle.config.task != task:
        raise UserError(f"{uri} holds a {bundle.config.task} model, not a {task} model")
    return bundle


def _classify(args: argparse.Namespace) -> None:
    from pipelines.document_predict import classify, predict_documents
    from pipelines.sentences import split_sentences

    documents = _documents(args.texts)
    bundle = _bundle_for(args.model, "classification")
    encoded = bundle.codec.encode([split_sentences(d) for d in documents])
    for prediction in predict_documents(bundle.backend(), encoded):
        result = classify(prediction, bundle.codec)
        cut = " (truncated)" if prediction.document.truncated else ""
        print(f"{result.label}\t{result.probabilities[result.label]:.3f}{cut}")
        if args.show_attention:
            doc = prediction.document
            for text, weight, words, weights in zip(
                doc.sentences, prediction.sentence_weights, doc.words, prediction.word_weights
            ):
                top = sorted(zip(weights, words), reverse=True)[:3]
                print(f"{weight:.2f}  {text}\n      top words: " + ", ".join(f"{w} {a:.2f}" for a, w in top),
                      file=sys.stderr)  # fmt: skip


def _summarize(args: argparse.Namespace) -> None:
    from pipelines.document_predict import predict_documents, summarize
    from pipelines.sentences import split_sentences

    (document,) = _documents([args.text])
    bundle = _bundle_for(args.model, "summarization")
    (prediction,) = predict_documents(bundle.backend(), bundle.codec.encode([split_sentences(document)]))
    budget = bundle.config.summary.model_copy(update={"max_sentences": args.max_sentences, "max_words": args.max_words})
    for sentence in summarize(prediction, budget):
        print(f"{sentence.score:.3f}\t{sentence.text}" if args.scores else sentence.text)
    if prediction.document.truncated:
        print("attnops: note: the document was cut to the model's sentence and word limits", file=sys.stderr)


def _caption(args: argparse.Namespace) -> None:
    import torch

    from pipelines.caption_evaluate import caption_photos
    from pipelines.caption_figures import plot_caption_attention
    from pipelines.image_input import ImageRejected, open_image, photo_tensor
    from pipelines.translate import search_settings

    if not args.images:
        raise UserError("give at least one image file to caption")
    bundle = _bundle_for(args.model, "captioning")
    photos = []
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise UserError(f"image file not found: {path}")
        try:
            photos.append(photo_tensor(open_image(path.read_bytes()), bundle.manifest.image_size))
        except ImageRejected as exc:
            raise UserError(f"{path}: {exc.message}") from exc
    sessions = bundle.backend()
    batch = torch.stack(photos)  # (N, 3, H, W)
    settings = search_settings(bundle.config, bundle.codec, args.beam_size)
    captions = caption_photos(sessions.image_encoder, sessions.decoder, bundle.codec, batch, settings)
    for name, photo, caption in zip(args.images, batch, captions):
        print(f"{name}\t{caption.text}" if len(args.images) > 1 else caption.text)
        if args.figures:
            figure = Path(args.figures) / f"{Path(name).stem}.attention.png"
            plot_caption_attention(photo, caption.words, caption.attention, figure, title=caption.text)
            print(f"attention: {figure}", file=sys.stderr)


def _bench_decode(args: argparse.Namespace) -> None:
    from pipelines.bench_decode import bench_decode, format_report
    from pipelines.registry import resolve

    batch_sizes = tuple(args.batch_sizes)
    result = bench_decode(resolve(args.model).bundle, args.sentences, batch_sizes, args.threads)
    print(format_report(result, batch_sizes))


def _serve(args: argparse.Namespace) -> None:
    from serving.server import DEFAULT_CONFIG, reload_running_service, run_service

    if args.reload:
        print(reload_running_service(args.port or 8000))
        return
    run_service(Path(args.config) if args.config else DEFAULT_CONFIG, args.port, args.model)


def _bench_serve(args: argparse.Namespace) -> None:
    from serving.bench import bench_serve, format_report

    clients = tuple(args.clients)
    print(format_report(bench_serve(args.model, args.requests, args.time_limit, clients), clients))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _beam_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"must be between 1 and 16, got {value}")
    return value


def _summary_sentences(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"must be between 1 and 20, got {value}")
    return value


MODEL_URI_HELP = "model URI: runs:/RUN_ID, models:/NAME/VERSION or models:/NAME@ALIAS"


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
    train.add_argument(
        "--workers",
        type=_positive,
        help="data-parallel workers on Ray Train (DDP; the cluster of $RAY_ADDRESS, else a local Ray); "
        "the same as --set train.workers=N",
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

    export = commands.add_parser(
        "export",
        help="export a run to ONNX (parity-checked) as an MLflow model",
        description="Export a run's best checkpoint as two ONNX graphs (encoder, decoder step), check that "
        "ONNX Runtime matches PyTorch (logits on fresh shapes, greedy output on the parity split), and log "
        "graphs, tokenizer and config to the run as one MLflow pyfunc model. Prints that model's URI.",
    )
    export.add_argument("run_id", help="MLflow run id printed by 'attnops train'")
    export.add_argument("--quantize", choices=["int8"], help="also write dynamically INT8-quantized graphs")
    export.add_argument("--overwrite", action="store_true", help="replace the run's existing export")
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
        description="Print versions, aliases, task, attention variant, gate metric and creation time.",
    )
    models.add_argument("name", nargs="?", help="only this registered model")
    models.set_defaults(func=_models)

    translate = commands.add_parser(
        "translate",
        help="translate sentences locally with an exported model (ONNX Runtime)",
        description="Translate each TEXT with an exported model; one translation per line on stdout.",
    )
    translate.add_argument("texts", nargs="*", metavar="TEXT", help="source sentences")
    translate.add_argument("--model", required=True, help=MODEL_URI_HELP)
    translate.add_argument("--beam-size", type=_beam_size, help="beam size (default: the model's config)")
    translate.add_argument("--precision", choices=["fp32", "int8"], help="graphs to run (default: config)")
    translate.add_argument(
        "--show-attention", action="store_true", help="print each alignment as a text grid (on stderr)"
    )
    translate.set_defaults(func=_translate)

    classify = commands.add_parser(
        "classify",
        help="classify documents locally with an exported HAN model (ONNX Runtime)",
        description="Print the label and its probability for each TEXT (a document; '-' reads one from stdin).",
    )
    classify.add_argument("texts", nargs="*", metavar="TEXT", help="documents, or '-' for standard input")
    classify.add_argument("--model", required=True, help=MODEL_URI_HELP)
    classify.add_argument(
        "--show-attention", action="store_true", help="print each sentence's and word's weight (on stderr)"
    )
    classify.set_defaults(func=_classify)

    summarize = commands.add_parser(
        "summarize",
        help="summarize a document extractively with an exported model (ONNX Runtime)",
        description="Print the selected sentences of TEXT (or of standard input with '-'), one per line, in "
        "document order.",
    )
    summarize.add_argument("text", metavar="TEXT", help="the document, or '-' for standard input")
    summarize.add_argument("--model", required=True, help=MODEL_URI_HELP)
    summarize.add_argument(
        "--max-sentences", type=_summary_sentences, default=3, help="sentences to select (1-20, default 3)"
    )
    summarize.add_argument("--max-words", type=_positive, help="optional word budget")
    summarize.add_argument("--scores", action="store_true", help="prefix each sentence with its score")
    summarize.set_defaults(func=_summarize)

    caption = commands.add_parser(
        "caption",
        help="caption photos locally with an exported captioner (ONNX Runtime)",
        description="Caption each IMAGE (JPEG, PNG or WebP) with an exported captioning model; one caption per "
        "line on stdout (prefixed with the file name when there are several).",
    )
    caption.add_argument("images", nargs="*", metavar="IMAGE", help="photo files")
    caption.add_argument("--model", required=True, help=MODEL_URI_HELP)
    caption.add_argument("--beam-size", type=_beam_size, help="beam size (default: the model's config)")
    caption.add_argument("--figures", metavar="DIR", help="also save each photo's per-word attention figure in DIR")
    caption.set_defaults(func=_caption)

    serve = commands.add_parser(
        "serve",
        help="run the REST inference service (Ray Serve) in the foreground",
        description="Start a local Ray and the Serve app described by the Serve config (the same file "
        "'serve run' takes) on 127.0.0.1, until Ctrl-C or SIGTERM. Models come from the registry "
        "(default models:/translation-de-en@champion; the config's args.tasks picks the tasks) and follow "
        "their alias. --reload asks a running service to pick up new alias holders now.",
    )
    serve.add_argument("--config", help="Serve config YAML (default: serving/serve_config.yaml of this package)")
    serve.add_argument("--port", type=_positive, help="HTTP port (default: the config's, 8000)")
    serve.add_argument(
        "--model",
        action="append",
        help="model URI to serve instead of the config's; repeat for several tasks (each deploys its task's model)",
    )
    serve.add_argument("--reload", action="store_true", help="tell the service on --port to reload its model")
    serve.set_defaults(func=_serve)

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
    decode.add_argument("--sentences", type=_positive, default=200, help="sentences to decode (default 200)")
    decode.add_argument("--batch-sizes", type=_positive, nargs="+", default=[1, 8, 32], help="default: 1 8 32")
    decode.add_argument(
        "--threads", type=_positive, default=os.cpu_count() or 1, help="threads for every backend (default: all)"
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
    serve_bench.add_argument("--requests", type=_positive, default=300, help="requests per level (default 300)")
    serve_bench.add_argument("--time-limit", type=float, default=60.0, help="seconds per level (default 60)")
    serve_bench.add_argument("--clients", type=_positive, nargs="+", default=[1, 16, 64], help="default: 1 16 64")
    serve_bench.set_defaults(func=_bench_serve)
    add_stack_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # its INFO lines narrate internals
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipelines").setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"attnops: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

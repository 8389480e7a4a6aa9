"""``attnops classify`` and ``attnops summarize``: documents through an exported hierarchical model (or, for
``summarize``, an abstractive one)."""

from __future__ import annotations

import argparse
import sys

from attnops.pipelines.command_args import (
    MODEL_URI_HELP,
    beam_size,
    bundle_for,
    positive,
    read_documents,
    summary_sentences,
)
from attnops.pipelines.errors import UserError


def _classify(args: argparse.Namespace) -> None:
    from attnops.pipelines.documents.predict import classify, predict_documents
    from attnops.pipelines.documents.sentences import split_sentences

    documents = read_documents(args.texts)
    bundle = bundle_for(args.model, "classification")
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
    from attnops.pipelines.documents.predict import predict_documents, summarize
    from attnops.pipelines.documents.sentences import split_sentences
    from attnops.pipelines.inference.resolve import resolve

    (document,) = read_documents([args.text])
    bundle = resolve(args.model).bundle
    if bundle.config.task == "abstractive":
        from attnops.pipelines.abstractive.commands import write_summary

        return write_summary(bundle, document, args)
    if bundle.config.task != "summarization":
        raise UserError(f"{args.model} holds a {bundle.config.task} model, not a summarization model")
    if args.beam_size is not None or args.show_copy:
        raise UserError("--beam-size and --show-copy apply to abstractive models only")
    (prediction,) = predict_documents(bundle.backend(), bundle.codec.encode([split_sentences(document)]))
    budget = bundle.config.summary.model_copy(update={"max_sentences": args.max_sentences, "max_words": args.max_words})
    for sentence in summarize(prediction, budget):
        print(f"{sentence.score:.3f}\t{sentence.text}" if args.scores else sentence.text)
    if prediction.document.truncated:
        print("attnops: note: the document was cut to the model's sentence and word limits", file=sys.stderr)


def add_classify(commands: argparse._SubParsersAction) -> None:
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


def add_summarize(commands: argparse._SubParsersAction) -> None:
    summarize = commands.add_parser(
        "summarize",
        help="summarize a document with an exported model, extractive or abstractive (ONNX Runtime)",
        description="Extractive models print the selected sentences of TEXT (or of standard input with '-'), "
        "one per line, in document order; abstractive models print the summary they write.",
    )
    summarize.add_argument("text", metavar="TEXT", help="the document, or '-' for standard input")
    summarize.add_argument("--model", required=True, help=MODEL_URI_HELP)
    summarize.add_argument(
        "--max-sentences", type=summary_sentences, default=3, help="sentences to select (1-20, default 3)"
    )
    summarize.add_argument("--max-words", type=positive, help="optional word budget")
    summarize.add_argument("--scores", action="store_true", help="prefix each sentence with its score")
    summarize.add_argument("--beam-size", type=beam_size, help="abstractive: beam size (default: the model's config)")
    summarize.add_argument(
        "--show-copy", action="store_true", help="abstractive: print each word's copy probability (on stderr)"
    )
    summarize.set_defaults(func=_summarize)

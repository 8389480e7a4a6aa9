"""``attnops translate``: sentences through an exported translation model in ONNX Runtime."""

from __future__ import annotations

import argparse
import sys

from attnops.pipelines.command_args import MODEL_URI_HELP, beam_size, bundle_for
from attnops.pipelines.errors import UserError


def _translate(args: argparse.Namespace) -> None:
    from attnops.pipelines.inference.decoding import search_settings
    from attnops.pipelines.translation.alignment import text_grid
    from attnops.pipelines.translation.translate import translate

    if not args.texts or not all(t.strip() for t in args.texts):
        raise UserError("give at least one non-empty sentence to translate")
    bundle = bundle_for(args.model, "translation")
    runtime = bundle.config.runtime.model_copy(update={"precision": args.precision or bundle.config.runtime.precision})
    settings = search_settings(bundle.config, bundle.codec, args.beam_size)
    for result in translate(bundle.backend(runtime), bundle.codec, args.texts, settings):
        print(result.text)
        if args.show_attention:
            print(text_grid(result.attention, result.source_tokens, result.target_tokens), file=sys.stderr)


def add_commands(commands: argparse._SubParsersAction) -> None:
    translate = commands.add_parser(
        "translate",
        help="translate sentences locally with an exported model (ONNX Runtime)",
        description="Translate each TEXT with an exported model; one translation per line on stdout.",
    )
    translate.add_argument("texts", nargs="*", metavar="TEXT", help="source sentences")
    translate.add_argument("--model", required=True, help=MODEL_URI_HELP)
    translate.add_argument("--beam-size", type=beam_size, help="beam size (default: the model's config)")
    translate.add_argument("--precision", choices=["fp32", "int8"], help="graphs to run (default: config)")
    translate.add_argument(
        "--show-attention", action="store_true", help="print each alignment as a text grid (on stderr)"
    )
    translate.set_defaults(func=_translate)

"""What ``attnops summarize`` does with an abstractive model: write a summary of the document."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def write_summary(bundle: Any, document: str, args: argparse.Namespace) -> None:
    """Print the summary; with ``--show-copy``, each word's copy probability (on stderr)."""
    from attnops.pipelines.abstractive.codec import words
    from attnops.pipelines.abstractive.evaluate import marked
    from attnops.pipelines.abstractive.settings import summary_settings
    from attnops.pipelines.abstractive.summarize import summarize

    config = bundle.config
    settings = summary_settings(config, bundle.codec, args.beam_size)
    (summary,) = summarize(bundle.backend(), bundle.codec, [document], settings, config.data.max_source_words)
    print(summary.text)
    if args.show_copy:
        print(marked(summary), file=sys.stderr)
    if len(words(document)) > config.data.max_source_words:
        print(f"attnops: note: only the first {config.data.max_source_words} words were read", file=sys.stderr)

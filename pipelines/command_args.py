"""Argument types and helpers every command module shares, the task packages' included."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from attnops.pipelines.errors import UserError

MODEL_URI_HELP = "model URI: runs:/RUN_ID, models:/NAME/VERSION or models:/NAME@ALIAS"

T = TypeVar("T")


def _bounded(low: int, high: int | None = None):
    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be >= {low}, got {value}" if high is None else f"must be between {low} and {high}, got {value}"
            )
        return value

    return parse


def comma_list(parse: Callable[[str], T], check: Callable[[list[T]], str | None]) -> Callable[[str], list[T]]:
    """An argument type for ``A,B,C``: each item through ``parse`` (a ValueError names the item), then the whole
    list through ``check``, which returns what is wrong with it or None."""

    def parse_list(text: str) -> list[T]:
        values = []
        for part in text.split(","):
            try:
                values.append(parse(part.strip()))
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{text!r}: {part.strip()!r} is not a valid {parse.__name__}; separate values by commas"
                ) from None
        problem = check(values)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
        return values

    return parse_list


positive = _bounded(1)
beam_size = _bounded(1, 16)
summary_sentences = _bounded(1, 20)


def bundle_for(uri: str, task: str) -> Any:
    """The export ``uri`` names, which must hold a model of ``task``."""
    from attnops.pipelines.inference.resolve import resolve

    bundle = resolve(uri).bundle
    if bundle.config.task != task:
        raise UserError(f"{uri} holds a {bundle.config.task} model, not a {task} model")
    return bundle


def read_documents(texts: list[str]) -> list[str]:
    """Command-line documents: '-' reads standard input; empty documents are refused."""
    documents = [sys.stdin.read() if text == "-" else text for text in texts]
    if not documents or not all(d.strip() for d in documents):
        raise UserError("give at least one non-empty document (or '-' to read one from standard input)")
    return documents

"""The ``attnops`` command line (entry point ``pipelines.cli:main``)."""

from pipelines.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

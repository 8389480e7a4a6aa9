"""The ``attnops`` command line (entry point ``attnops.cli:main``)."""

from attnops.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

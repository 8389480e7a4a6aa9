"""The ``attnops`` command line (entry point ``attnops.pipelines.cli:main``)."""

from attnops.pipelines.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

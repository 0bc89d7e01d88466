"""The ``archspace`` command line."""

from __future__ import annotations

from archspace.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

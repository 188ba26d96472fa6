"""The `corral` command line: click commands; the only layer that prints or sets exit codes."""

from __future__ import annotations

from corral.cli.main import cli, main

__all__ = ["cli", "main"]

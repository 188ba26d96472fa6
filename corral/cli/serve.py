"""`corral serve`: the one place the CLI imports the daemon."""

from __future__ import annotations

import click

from corral import envconfig


def _environment_help() -> str:
    lines = ["\b", "Environment variables:"]
    for var in envconfig.describe():
        lines.append(f"  {var.name:<26} {var.help}")
    return "\n".join(lines)


@click.command(
    "serve",
    epilog=_environment_help(),
    context_settings={"max_content_width": 120},
)
def serve_command() -> None:
    """Start the corral daemon (Ollama's API on CORRAL_HOST, default 127.0.0.1:11434)."""
    from corral.daemon import serve

    serve()

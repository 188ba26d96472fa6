"""`corral registry serve`: host a registry that `corral pull/push` and `ollama pull` speak to."""

from __future__ import annotations

from pathlib import Path

import click

from corral import envconfig

__all__ = ["registry_group"]


@click.group("registry")
def registry_group() -> None:
    """Host a model registry (Ollama's and Docker's registry protocol)."""


@registry_group.command("serve")
@click.option(
    "--root",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory that holds the registry's blobs and manifests (created if missing).",
)
@click.option(
    "--host",
    "address",
    default="127.0.0.1:5000",
    show_default=True,
    help="Address to listen on, HOST:PORT.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help='Require tokens: one "<token> read" or "<token> write" per line.',
)
def registry_serve(root: Path, address: str, token_file: Path | None) -> None:
    """Serve a registry until interrupted.

    \b
    Examples:
      corral registry serve --root ./registry --host 127.0.0.1:5000
      corral push 127.0.0.1:5000/team/mymodel:latest --insecure
      corral pull 127.0.0.1:5000/team/mymodel:latest --insecure
    """
    from corral.registry.server import run_registry

    parsed = envconfig.parse_host(address if ":" in address else f"{address}:5000")
    if not parsed.is_loopback and token_file is None:
        click.echo(
            f"Warning: serving {parsed.host}:{parsed.port} to the network without --token-file; "
            "anyone who can reach it can push",
            err=True,
        )
    run_registry(root, parsed.host, parsed.port, token_file)

"""`pull` and `push`: stream a transfer's progress to stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from corral.cli._daemon import connect
from corral.cli._progress import Progress
from corral.client import Client

__all__ = ["cli_pull", "cli_push", "pull_model", "show_progress"]


def show_progress(events: Iterator[dict[str, Any]]) -> None:
    """Render progress events on stderr until the stream ends (errors propagate)."""
    with Progress(sys.stderr) as progress:
        for event in events:
            progress.update(event)


def pull_model(client: Client, model: str, *, insecure: bool = False, quiet: bool = False) -> None:
    """Pull `model`, showing progress on stderr unless `quiet`."""
    events = client.pull(model, insecure=insecure)
    if quiet:
        for _ in events:
            pass
    else:
        show_progress(events)


@click.command("pull")
@click.argument("model")
@click.option("--insecure", is_flag=True, help="Use an insecure (http) registry.")
@click.pass_context
def cli_pull(ctx: click.Context, model: str, insecure: bool) -> None:
    """Pull a model from a registry."""
    pull_model(connect(ctx), model, insecure=insecure)


@click.command("push")
@click.argument("model")
@click.option("--insecure", is_flag=True, help="Use an insecure (http) registry.")
@click.pass_context
def cli_push(ctx: click.Context, model: str, insecure: bool) -> None:
    """Push a model to a registry."""
    show_progress(connect(ctx).push(model, insecure=insecure))

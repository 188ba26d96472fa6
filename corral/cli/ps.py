"""`ps`: the models the daemon has loaded."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from corral.cli._daemon import connect
from corral.cli._render import ps_table

__all__ = ["cli_ps"]


@click.command("ps")
@click.argument("prefix", required=False)
@click.pass_context
def cli_ps(ctx: click.Context, prefix: str | None) -> None:
    """List running models, optionally those whose name starts with PREFIX."""
    answer = connect(ctx).ps()
    models = answer.get("models")
    click.echo(ps_table(models if isinstance(models, list) else [], datetime.now(UTC), prefix))

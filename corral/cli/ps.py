"""`ps`: the models the daemon has loaded."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from corral.cli._daemon import connect
from corral.cli.models import JSON_OPTION, echo_json, matching
from corral.display import ps_table

__all__ = ["cli_ps"]


@click.command("ps")
@click.argument("prefix", required=False)
@JSON_OPTION
@click.pass_context
def cli_ps(ctx: click.Context, prefix: str | None, as_json: bool) -> None:
    """List running models, optionally those whose name starts with PREFIX."""
    models = matching(connect(ctx).ps().get("models"), prefix)
    if as_json:
        echo_json(models)
        return
    click.echo(ps_table(models, datetime.now(UTC)))

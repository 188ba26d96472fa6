"""Model management commands: `list`/`ls`, `show`, `rm`, `cp`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from corral.cli._daemon import connect
from corral.display import list_table, show_summary
from corral.errors import CorralError, NotFound

__all__ = ["cli_cp", "cli_list", "cli_rm", "cli_show", "echo_json", "matching"]

JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print the daemon's answer as JSON, for scripts."
)


def echo_json(value: object) -> None:
    """`value` as indented JSON on stdout, one final newline."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def matching(models: object, prefix: str | None) -> list[Mapping[str, Any]]:
    """The model entries of a list/ps answer whose name starts with `prefix` (any case)."""
    entries: Sequence[object] = models if isinstance(models, list) else []
    chosen = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        name = str(entry.get("name") or entry.get("model") or "")
        if not prefix or name.lower().startswith(prefix.lower()):
            chosen.append(entry)
    return chosen


_SHOW_FLAGS = ("license", "modelfile", "parameters", "system", "template")


@click.command("list")
@click.argument("prefix", required=False)
@JSON_OPTION
@click.pass_context
def cli_list(ctx: click.Context, prefix: str | None, as_json: bool) -> None:
    """List local models, optionally those whose name starts with PREFIX.

    \b
    Examples:
      corral list
      corral list --json | jq -r '.[].name'
    """
    models = matching(connect(ctx).list().get("models"), prefix)
    if as_json:
        echo_json(models)
        return
    click.echo(list_table(models, datetime.now(UTC)))


@click.command("show")
@click.argument("model")
@click.option("--license", "show_license", is_flag=True, help="Show the model's license.")
@click.option("--modelfile", is_flag=True, help="Show the model's Modelfile.")
@click.option("--parameters", is_flag=True, help="Show the model's parameters.")
@click.option("--system", is_flag=True, help="Show the model's system message.")
@click.option("--template", is_flag=True, help="Show the model's prompt template.")
@click.option("-v", "--verbose", is_flag=True, help="Ask for the full metadata.")
@JSON_OPTION
@click.pass_context
def cli_show(
    ctx: click.Context,
    model: str,
    show_license: bool,
    modelfile: bool,
    parameters: bool,
    system: bool,
    template: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    """Show information about a model.

    \b
    Examples:
      corral show smollm2:135m
      corral show smollm2:135m --modelfile
      corral show smollm2:135m --json | jq .capabilities
    """
    chosen = [
        name
        for name, flag in zip(
            _SHOW_FLAGS, (show_license, modelfile, parameters, system, template), strict=True
        )
        if flag
    ]
    if len(chosen) > 1:
        raise click.UsageError(
            "only one of '--license', '--modelfile', '--parameters', '--system', "
            "or '--template' can be specified"
        )
    if as_json and chosen:
        raise click.UsageError(f"--json cannot be combined with --{chosen[0]}")
    info = connect(ctx).show(model, verbose=verbose)
    if as_json:
        echo_json(info)
        return
    if not chosen:
        click.echo(show_summary(info), nl=False)
        return
    value = info.get(chosen[0])
    if isinstance(value, list):
        value = "\n".join(str(part) for part in value)
    text = value if isinstance(value, str) else ""
    if chosen[0] in ("system", "template"):
        click.echo(text, nl=False)
    else:
        click.echo(text)


@click.command("rm")
@click.argument("models", nargs=-1, required=True)
@click.pass_context
def cli_rm(ctx: click.Context, models: tuple[str, ...]) -> None:
    """Remove one or more models (unloading each first)."""
    client = connect(ctx)
    for model in models:
        try:
            for _ in client.generate(model, keep_alive=0):
                pass
        except NotFound:
            pass
        except CorralError:
            click.echo(f"Warning: unable to stop model '{model}'", err=True)
        client.delete(model)
        click.echo(f"deleted '{model}'")


@click.command("cp")
@click.argument("source")
@click.argument("destination")
@click.pass_context
def cli_cp(ctx: click.Context, source: str, destination: str) -> None:
    """Copy a model under a new name."""
    connect(ctx).copy(source, destination)
    click.echo(f"copied '{source}' to '{destination}'")

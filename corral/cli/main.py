"""The root `corral` command group and the CLI's error boundary.

The boundary is the only place errors become exit codes: a `CorralError` prints
`Error: <message>` on stderr and exits with its `exit_code` (1, or 130 for a
canceled request); Ctrl+C exits 130; click's usage errors exit 2. A traceback
is printed only when CORRAL_DEBUG is set.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from corral import __version__, envconfig
from corral.cli._daemon import CliState
from corral.client import Client
from corral.errors import ClientError, CorralError

__all__ = ["CorralGroup", "cli", "main"]


_LAZY_COMMANDS = {
    "serve": ("corral.cli.serve", "serve_command"),
    "registry": ("corral.cli.registry", "registry_group"),
}
"""Commands imported only when used, so that `corral list` never loads the daemon."""


class CorralGroup(click.Group):
    """A click group whose `invoke` is the error boundary of every subcommand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _LAZY_COMMANDS:
            module_name, attribute = _LAZY_COMMANDS[cmd_name]
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                return None
            command = getattr(module, attribute)
            assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except CorralError as exc:
            if envconfig.debug():
                traceback.print_exc()
            click.echo(f"Error: {exc.message}", err=True)
            raise click.exceptions.Exit(exc.exit_code) from exc
        except KeyboardInterrupt:
            # Leave the terminal on a fresh line, then exit as shells expect after SIGINT.
            click.echo(err=True)
            raise click.exceptions.Exit(130) from None
        except BrokenPipeError:
            # The reader went away (`corral list | head -1`): nothing more to say to it.
            _silence_stdout()
            raise click.exceptions.Exit(1) from None
        except Exception as exc:
            if envconfig.debug():
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {exc} (set CORRAL_DEBUG=1 for a traceback)"
            ) from exc


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _print_version() -> None:
    client = Client(timeout=5.0)
    try:
        server = client.version()
    except ClientError:
        click.echo("Warning: could not connect to a running corral instance", err=True)
        click.echo(f"Warning: client version is {__version__}", err=True)
        return
    finally:
        client.close()
    click.echo(f"corral version is {server}")
    if server != __version__:
        click.echo(f"Warning: client version is {__version__}", err=True)


@click.group(
    cls=CorralGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("-v", "--version", "show_version", is_flag=True, help="Show version information.")
@click.pass_context
def cli(ctx: click.Context, show_version: bool) -> None:
    """Run large language models locally.

    \b
    Examples:
      corral run smollm2:135m "Why is the sky blue?"
      cat notes.txt | corral run smollm2:135m "Summarize this."
      corral create mymodel -f ./Modelfile
    """
    ctx.ensure_object(CliState)
    if show_version:
        _print_version()
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            from corral.cli.tui import run_tui

            run_tui(None)
        else:
            click.echo(ctx.get_help())


def _register() -> None:
    from corral.cli.create import cli_create
    from corral.cli.models import cli_cp, cli_list, cli_rm, cli_show
    from corral.cli.ps import cli_ps
    from corral.cli.pull import cli_pull, cli_push
    from corral.cli.run import cli_run, cli_stop
    from corral.cli.shell import cli_completion, cli_history
    from corral.cli.tui import cli_tui

    for command in (
        cli_run,
        cli_stop,
        cli_pull,
        cli_push,
        cli_list,
        cli_ps,
        cli_show,
        cli_cp,
        cli_rm,
        cli_create,
        cli_completion,
        cli_history,
        cli_tui,
    ):
        cli.add_command(command)
    cli.add_command(cli_list, "ls")


_register()


def main() -> None:
    """Entry point of the `corral` script and `python -m corral`."""
    cli.main(prog_name="corral")

"""`completion` (print a shell's completion script) and `history search` (saved chats)."""

from __future__ import annotations

import click

from corral.cli._shells import SHELLS, render
from corral.display import table
from corral.sessions import SessionStore

__all__ = ["cli_completion", "cli_history"]


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def cli_completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    Examples:
      source <(corral completion bash)
      corral completion zsh > "${fpath[1]}/_corral"
      corral completion fish > ~/.config/fish/completions/corral.fish
    """
    from corral.cli.main import cli

    click.echo(render(shell, cli), nl=False)


@click.group("history")
def cli_history() -> None:
    """Search and list saved chat sessions."""


@cli_history.command("search")
@click.argument("text", nargs=-1, required=True)
@click.option("-n", "--limit", type=click.IntRange(1), default=20, help="At most this many hits.")
def history_search(text: tuple[str, ...], limit: int) -> None:
    """Find messages of saved chats that contain every word of TEXT.

    \b
    Examples:
      corral history search sky blue
      corral run smollm2:135m --resume 3
    """
    with SessionStore() as store:
        hits = store.search(" ".join(text), limit)
    if not hits:
        click.echo(f"No saved message matches {' '.join(text)!r}.", err=True)
        raise click.exceptions.Exit(1)
    rows = [[str(h.session_id), h.model, h.role, " ".join(h.snippet.split())] for h in hits]
    click.echo(table(rows, ["SESSION", "MODEL", "ROLE", "MATCH"]))


@cli_history.command("list")
@click.option("-n", "--limit", type=click.IntRange(1), default=20, help="At most this many.")
def history_list(limit: int) -> None:
    """List saved chat sessions, most recent first."""
    with SessionStore() as store:
        sessions = store.recent(limit)
    rows = [[str(s.id), s.model, str(s.message_count), s.updated_at, s.title] for s in sessions]
    click.echo(table(rows, ["ID", "MODEL", "MESSAGES", "UPDATED", "FIRST MESSAGE"]))

"""`corral tui [--host]`, also what `corral` alone opens on a terminal."""

from __future__ import annotations

import click

__all__ = ["cli_tui", "run_tui"]


def run_tui(host: str | None) -> None:
    """Open the full-screen app (Textual is imported only here, for a fast CLI)."""
    from corral.sessions import SessionStore
    from corral.tui import CorralApp
    from corral.tui.config import keymap, theme

    keys = keymap(known=set(CorralApp.binding_ids()))
    with SessionStore() as store:
        CorralApp(host, store=store, keymap=keys, theme=theme()).run()


@click.command("tui")
@click.option("--host", help="The daemon to use (host:port or URL; default CORRAL_HOST).")
def cli_tui(host: str | None) -> None:
    """Open the full-screen terminal app: chat, models, system panel, Modelfile editor."""
    run_tui(host)

"""A minimal interactive chat on `/api/chat`: `>>> ` prompt, `/bye` or EOF to leave.

Kept small and self-contained on purpose: a later issue replaces it with the
prompt-toolkit REPL (`corral.repl`). Ctrl+C while the model answers stops that
answer and returns to the prompt; Ctrl+C at the prompt only reminds how to leave.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import click

from corral.cli._output import AnswerPrinter, stream_answer
from corral.cli._render import format_metrics
from corral.client import Client

__all__ = ["HELP", "run_chat_loop"]

HELP = """Available Commands:
  /bye            Exit
  /clear          Clear session context
  /?, /help       Help for a command

Use Ctrl + d or /bye to exit.
"""


def _default_reader(prompt: str) -> str:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    return input(prompt)


def run_chat_loop(
    client: Client,
    model: str,
    *,
    system: str | None = None,
    keep_alive: str | float | None = None,
    format: str | dict[str, Any] | None = None,
    think: bool | None = None,
    wrap: bool = True,
    verbose: bool = False,
    hide_thinking: bool = False,
    read: Callable[[str], str] = _default_reader,
) -> None:
    """Chat with `model` until `/bye`, `/exit` or end of input."""
    # Load the model up front so the first answer does not pay for it silently.
    for _ in client.generate(model, keep_alive=keep_alive):
        pass
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    while True:
        try:
            line = read(">>> ")
        except EOFError:
            click.echo()
            return
        except KeyboardInterrupt:
            click.echo("\nUse Ctrl + d or /bye to exit.")
            continue
        text = line.strip()
        if not text:
            continue
        if text in ("/bye", "/exit"):
            return
        if text == "/clear":
            messages = [m for m in messages if m["role"] == "system"]
            click.echo("Cleared session context")
            continue
        if text.startswith("/"):
            if text.split()[0] in ("/?", "/help"):
                click.echo(HELP)
            else:
                click.echo(f"Unknown command '{text.split()[0]}'. Type /? for help")
            continue
        messages.append({"role": "user", "content": line})
        printer = AnswerPrinter(sys.stdout, sys.stderr, wrap=wrap, hide_thinking=hide_thinking)
        chunks = client.chat(model, messages, keep_alive=keep_alive, format=format, think=think)
        try:
            final = stream_answer(chunks, printer, key="message")
        except KeyboardInterrupt:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            printer.finish()
            messages.pop()
            continue
        printer.finish()
        messages.append({"role": "assistant", "content": printer.answer})
        if verbose and final is not None:
            click.echo(format_metrics(final), err=True, nl=False)

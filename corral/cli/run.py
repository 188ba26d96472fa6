"""`run` (one-shot answer or a chat loop) and `stop` (unload a model)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from corral.cli._daemon import connect
from corral.cli._output import AnswerPrinter, stream_answer
from corral.cli._progress import is_tty
from corral.cli.pull import pull_model
from corral.client import Client
from corral.display import format_metrics
from corral.durations import parse_go_duration
from corral.errors import ModelfileError, NotFound
from corral.modelfile import coerce_parameter

__all__ = ["cli_run", "cli_stop", "ensure_model", "join_prompt", "parse_options"]


def join_prompt(piped: str | None, words: tuple[str, ...]) -> str:
    """The prompt for a one-shot run: piped input first, then the words, a blank line between."""
    prompt = " ".join(words)
    if not piped:
        return prompt
    if not prompt:
        return piped
    return piped.rstrip("\r\n") + "\n\n" + prompt


def _parse_format(value: str | None) -> str | dict[str, Any] | None:
    if value is None or value == "json":
        return value
    try:
        schema = json.loads(value)
    except ValueError:
        schema = None
    if not isinstance(schema, dict):
        raise click.BadParameter(
            f'{value!r}: expected "json" or a JSON schema object', param_hint="'--format'"
        )
    return schema


def _parse_keepalive(value: str | None) -> str | float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parse_go_duration(value)
    except ValueError as exc:
        raise click.BadParameter(
            f'{value!r}: expected a duration such as "5m", "1h30m" or "-1s" (forever)',
            param_hint="'--keepalive'",
        ) from exc
    return value


def parse_options(values: tuple[str, ...]) -> dict[str, Any]:
    """`-o KEY=VALUE` pairs, checked like `/set parameter` (a repeated `stop` adds a string)."""
    options: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="'-o/--option'")
        try:
            value = coerce_parameter(name.strip(), raw.strip())
        except ModelfileError as exc:
            raise click.BadParameter(exc.message, param_hint="'-o/--option'") from exc
        if name.strip() == "stop":
            options.setdefault("stop", []).append(value)
        else:
            options[name.strip()] = value
    return options


def _parse_resume(value: str | None) -> int | str | None:
    if value is None or value == "latest":
        return value
    if not value.isdigit():
        raise click.BadParameter(
            f"{value!r}: expected a session number (see /sessions)", param_hint="'--resume'"
        )
    return int(value)


def ensure_model(client: Client, model: str, *, insecure: bool = False) -> dict[str, Any]:
    """`/api/show` for `model`, pulling it first when it is not local.

    Progress goes to stderr only when stderr is a terminal, so a script that pipes
    `corral run` sees nothing but the answer, or one error line.
    """
    try:
        return client.show(model)
    except NotFound:
        pull_model(client, model, insecure=insecure, quiet=not sys.stderr.isatty())
        return client.show(model)


@click.command("run")
@click.argument("model")
@click.argument("prompt", nargs=-1)
@click.option("--verbose", is_flag=True, help="Print timings and token rates to stderr.")
@click.option(
    "--format",
    "format_",
    metavar="FORMAT",
    help='Constrain the answer: "json" or a JSON schema object.',
)
@click.option(
    "--keepalive",
    metavar="DURATION",
    help='How long the model stays loaded afterwards ("5m", "1h", "-1s" = forever).',
)
@click.option("--system", help="System message for this run.")
@click.option(
    "-o",
    "--option",
    "option_values",
    multiple=True,
    metavar="KEY=VALUE",
    help="A model parameter, as with /set parameter (repeatable): -o temperature=0.",
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[ID]",
    help="Continue saved chat session ID (default: the latest one of MODEL).",
)
@click.option("--nowordwrap", is_flag=True, help="Do not wrap long lines at the terminal's width.")
@click.option("--think/--nothink", default=None, help="Let a thinking model think (or not).")
@click.option("--hidethinking", is_flag=True, help="Do not print the model's thinking.")
@click.option("--insecure", is_flag=True, help="Use an insecure registry if the model is pulled.")
@click.pass_context
def cli_run(
    ctx: click.Context,
    model: str,
    prompt: tuple[str, ...],
    verbose: bool,
    format_: str | None,
    keepalive: str | None,
    system: str | None,
    option_values: tuple[str, ...],
    resume: str | None,
    nowordwrap: bool,
    think: bool | None,
    hidethinking: bool,
    insecure: bool,
) -> None:
    """Run a model: answer PROMPT, or chat.

    The answer is streamed to stdout. Piped input comes first in the prompt and
    PROMPT after it, separated by a blank line. With neither, on a terminal, a
    chat starts; it is saved, and --resume continues it later.

    \b
    Examples:
      corral run smollm2:135m "Why is the sky blue?"
      git diff | corral run smollm2:135m "Write a commit message for this diff."
      corral run smollm2:135m -o temperature=0 -o seed=42 "Pick a number."
      corral run smollm2:135m            # chat; /bye or Ctrl+D to leave
      corral run smollm2:135m --resume   # continue the latest saved chat
    """
    format_value = _parse_format(format_)
    keep_alive = _parse_keepalive(keepalive)
    options = parse_options(option_values)
    resume_id = _parse_resume(resume)
    piped = None if is_tty(sys.stdin) else sys.stdin.read()
    # As Ollama: a chat needs a terminal on both ends; `corral run m > file` only loads m.
    interactive = not prompt and piped is None and is_tty(sys.stdout)
    if resume_id is not None and not interactive:
        raise click.UsageError(
            "--resume continues a chat; give no PROMPT, no piped input, and run it on a terminal"
        )

    client = connect(ctx)
    ensure_model(client, model, insecure=insecure)

    if interactive:
        from corral.cli._chat import start_chat
        from corral.repl import ChatState

        state = ChatState(
            model,
            system=system,
            options=options,
            format=format_value,
            think=think,
            keep_alive=keep_alive,
            wordwrap=not nowordwrap,
            verbose=verbose,
            hide_thinking=hidethinking,
        )
        start_chat(state, resume_id)
        return

    text = join_prompt(piped, prompt)
    chunks = client.generate(
        model,
        text,
        system=system,
        options=options or None,
        keep_alive=keep_alive,
        format=format_value,
        think=think,
    )
    if not text:
        # Nothing to answer: the request only loads the model, as Ollama's does.
        for _ in chunks:
            pass
        return
    printer = AnswerPrinter(sys.stdout, sys.stderr, wrap=not nowordwrap, hide_thinking=hidethinking)
    final = stream_answer(chunks, printer)
    printer.finish()
    if verbose and final is not None:
        click.echo(format_metrics(final), err=True, nl=False)


@click.command("stop")
@click.argument("model")
@click.pass_context
def cli_stop(ctx: click.Context, model: str) -> None:
    """Unload a running model."""
    client = connect(ctx)
    try:
        for _ in client.generate(model, keep_alive=0):
            pass
    except NotFound as exc:
        raise NotFound(f'couldn\'t find model "{model}" to stop') from exc

"""Man pages generated from the click commands: `corral(1)` and one `corral-<command>(1)` each.

Every page has NAME, SYNOPSIS, DESCRIPTION, OPTIONS, the EXAMPLES of the
command's help, ENVIRONMENT (from `envconfig.describe()`), FILES, EXIT STATUS
and SEE ALSO. Output is deterministic (no date), so a test can compare the
checked-in pages with freshly generated ones.
"""

from __future__ import annotations

import inspect

import click

from corral import __version__, envconfig

__all__ = ["page_name", "render_page", "render_pages"]

_FILES = (
    ("~/.corral/models", "The model store (CORRAL_MODELS): blobs/ and manifests/, as Ollama's."),
    ("~/.corral/history", "Prompt history of the chat REPL (not written with CORRAL_NOHISTORY)."),
    ("~/.corral/sessions.db", "Saved chat sessions (SQLite), for --resume and history search."),
    ("~/.corral/logs/server.log", "Log of a daemon the CLI started in the background."),
)
_EXIT = (
    ("0", "Success."),
    ("1", "An error: the daemon is unreachable, a model is missing, a request failed."),
    ("2", "A usage error: an unknown command or option, or a bad option value."),
    ("130", "Interrupted by Ctrl+C (SIGINT)."),
)


def _esc(text: str) -> str:
    """Text safe for roff: backslashes and dashes escaped, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = [("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n")]
    return "\n".join(lines)


def page_name(command_path: str) -> str:
    """`corral run` -> `corral-run`."""
    return command_path.replace(" ", "-")


def _paragraphs(help_text: str) -> tuple[list[str], list[str]]:
    """Roff for the description and for the examples of a click help text."""
    description: list[str] = []
    examples: list[str] = []
    for block in inspect.cleandoc(help_text).split("\n\n"):
        if block.startswith("\b"):
            lines = block.split("\n")[1:]
            if lines and lines[0].rstrip(":").strip().lower() == "examples":
                examples.extend(_esc(line.strip()) for line in lines[1:] if line.strip())
                examples.append("")
                continue
            description.append(".PP\n.nf\n" + _esc("\n".join(lines)) + "\n.fi")
        else:
            description.append(".PP\n" + _esc(" ".join(block.split())))
    lines = [line for line in examples if line]
    roff_examples = [".PP\n.RS 4\n.nf\n" + "\n".join(lines) + "\n.fi\n.RE"] if lines else []
    return description, roff_examples


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option):
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        out.append(f".TP\n.B {_esc(names)}\n{_esc(help_text) or '.'}")
    return out


def _common_sections(see_also: list[str]) -> list[str]:
    sections = [".SH ENVIRONMENT"]
    for var in envconfig.describe():
        sections.append(f".TP\n.B {var.name}\n{_esc(var.help)}")
    sections.append(".TP\n.B NO_COLOR\nWhen set, the chat shows no colours.")
    sections.append(".SH FILES")
    for path, what in _FILES:
        sections.append(f".TP\n.I {_esc(path)}\n{_esc(what)}")
    sections.append(".SH EXIT STATUS")
    for code, what in _EXIT:
        sections.append(f".TP\n.B {code}\n{_esc(what)}")
    sections.append(".SH SEE ALSO\n" + ",\n".join(f".BR {_esc(name)} (1)" for name in see_also))
    return sections


def render_page(
    command: click.Command, ctx: click.Context, see_also: list[str], subcommands: bool = False
) -> str:
    """One man page for `command` (whose context is `ctx`)."""
    path = ctx.command_path
    name = page_name(path)
    short = command.get_short_help_str(limit=200).rstrip(".")
    usage = " ".join(command.collect_usage_pieces(ctx))
    description, examples = _paragraphs(command.help or short)
    parts = [
        f'.TH {_esc(name.upper())} 1 "" "corral {__version__}" "Corral Manual"',
        ".SH NAME",
        f"{_esc(name)} \\- {_esc(short[:1].lower() + short[1:])}",
        ".SH SYNOPSIS",
        f".B {_esc(path)}\n{_esc(usage)}",
        ".SH DESCRIPTION",
        *description,
    ]
    if isinstance(command, click.Group):
        parts.append(".SH COMMANDS")
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is None or sub.hidden:
                continue
            alias = "" if sub.name == sub_name else f" (alias of {sub.name})"
            text = sub.get_short_help_str(limit=200)
            parts.append(f".TP\n.B {_esc(sub_name)}\n{_esc(text + alias)}")
            if subcommands:
                sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
                usage = " ".join(sub.collect_usage_pieces(sub_ctx))
                parts.append(f".RS\n.B {_esc(path)} {_esc(sub_name)}\n{_esc(usage)}\n.RE")
    options = _options(command, ctx)
    if options:
        parts += [".SH OPTIONS", *options]
    if examples:
        parts += [".SH EXAMPLES", *examples]
    parts += _common_sections(see_also)
    return "\n".join(parts) + "\n"


def render_pages(root: click.Group) -> dict[str, str]:
    """`{"corral.1": ..., "corral-run.1": ...}` for `root` and each of its commands."""
    root_ctx = click.Context(root, info_name="corral", **root.context_settings)
    names = []
    commands = []
    for name in root.list_commands(root_ctx):
        command = root.get_command(root_ctx, name)
        if command is None or command.hidden or command.name != name:
            continue  # aliases (`ls`) share their command's page
        names.append(f"corral-{name}")
        commands.append((name, command))
    pages = {"corral.1": render_page(root, root_ctx, names)}
    for name, command in commands:
        ctx = click.Context(command, info_name=name, parent=root_ctx)
        pages[f"corral-{name}.1"] = render_page(command, ctx, ["corral"], subcommands=True)
    return pages

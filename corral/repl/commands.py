"""Slash commands, as Ollama's REPL has them (`/set`, `/show`, `/load`, `/save`, ...).

Each handler prints Ollama's messages word for word where Ollama has one; a bad
argument prints one line naming it and the chat goes on.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from corral.display import list_table, show_summary, table
from corral.errors import CorralError, ModelfileError, NotFound
from corral.modelfile import coerce_parameter, format_parameter_value

if TYPE_CHECKING:
    from corral.repl.loop import Repl

__all__ = ["HELP", "Outcome", "handle_command"]


class Outcome(enum.Enum):
    CONTINUE = "continue"
    EXIT = "exit"


HELP = """Available Commands:
  /set            Set session variables
  /show           Show model information
  /load <model>   Load a session or model
  /save <model>   Save your current session
  /clear          Clear session context
  /list           List local models
  /sessions       List saved sessions
  /bye            Exit
  /?, /help       Help for a command
  /? shortcuts    Help for keyboard shortcuts

Use \"\"\" to begin a multi-line message.
"""

HELP_SET = """Available Commands:
  /set parameter ...     Set a parameter
  /set system <string>   Set system message
  /set history           Enable history
  /set nohistory         Disable history
  /set wordwrap          Enable wordwrap
  /set nowordwrap        Disable wordwrap
  /set format json       Enable JSON mode
  /set noformat          Disable formatting
  /set verbose           Show LLM stats
  /set quiet             Disable LLM stats
  /set think [level]     Enable thinking (level: high, medium, low)
  /set nothink           Disable thinking
"""

HELP_SHOW = """Available Commands:
  /show info         Show details for this model
  /show license      Show model license
  /show modelfile    Show Modelfile for this model
  /show parameters   Show parameters for this model
  /show system       Show system message
  /show template     Show prompt template
"""

HELP_SHORTCUTS = """Available keyboard shortcuts:
  Ctrl + a            Move to the beginning of the line (Home)
  Ctrl + e            Move to the end of the line (End)
   Alt + b            Move back (left) one word
   Alt + f            Move forward (right) one word
  Ctrl + k            Delete the sentence after the cursor
  Ctrl + u            Delete the sentence before the cursor
  Ctrl + w            Delete the word before the cursor
  Ctrl + g            Edit the prompt in $EDITOR
  Alt + Enter         Insert a newline (also Ctrl + j)

  Ctrl + l            Clear the screen
  Ctrl + c            Stop the model from responding
  Ctrl + d            Exit (/bye)
"""

_SWITCHES = {
    "history": ("history", True),
    "nohistory": ("history", False),
    "wordwrap": ("wordwrap", True),
    "nowordwrap": ("wordwrap", False),
    "verbose": ("verbose", True),
    "quiet": ("verbose", False),
}
_THINK_LEVELS = ("high", "medium", "low")


def _set(repl: Repl, args: list[str], raw: str) -> None:
    state = repl.state
    if not args:
        repl.say(HELP_SET)
        return
    what = args[0]
    if what in _SWITCHES:
        attribute, value = _SWITCHES[what]
        setattr(state, attribute, value)
        repl.say(f"Set '{what}' mode.")
    elif what == "parameter":
        _set_parameter(repl, args[1:])
    elif what == "system":
        text = raw.split(None, 2)[2] if len(raw.split(None, 2)) > 2 else ""
        state.system = text or None
        repl.say("Set system message.")
    elif what == "format":
        if args[1:] == ["json"]:
            state.format = "json"
            repl.say("Set format to 'json' mode.")
        else:
            repl.say("Invalid or missing format. For 'json' mode use '/set format json'")
    elif what == "noformat":
        state.format = None
        repl.say("Disabled format.")
    elif what == "think":
        _set_think(repl, args[1:])
    elif what == "nothink":
        state.think = False
        repl.say("Set 'nothink' mode.")
    else:
        repl.say(f"Unknown command '/set {what}'. Type /? for help")


def _set_parameter(repl: Repl, args: list[str]) -> None:
    if len(args) < 2:
        repl.say("Usage:\n  /set parameter <name> <value>")
        return
    name, values = args[0], args[1:]
    try:
        parsed = [coerce_parameter(name, value) for value in values]
    except ModelfileError as exc:
        repl.say(f'Couldn\'t set parameter: "{exc.message}"')
        return
    if name == "stop":
        repl.state.options[name] = [str(v) for v in parsed]
    elif len(parsed) > 1:
        repl.say(f'Couldn\'t set parameter: "parameter \\"{name}\\" takes one value"')
        return
    else:
        repl.state.options[name] = parsed[0]
    repl.say(f"Set parameter '{name}' to '{', '.join(values)}'")


def _set_think(repl: Repl, args: list[str]) -> None:
    if args and args[0] not in _THINK_LEVELS:
        repl.say(f"Invalid think level '{args[0]}'; use high, medium or low.")
        return
    repl.state.think = args[0] if args else True
    capabilities = repl.info.get("capabilities")
    if isinstance(capabilities, list) and "thinking" not in capabilities:
        repl.say(f"warning: model '{repl.state.model}' does not support thinking output")
    repl.say(f"Set 'think' mode to '{args[0]}'." if args else "Set 'think' mode.")


def _text(value: object) -> str:
    if isinstance(value, list):
        return "\n".join(str(part) for part in value)
    return value if isinstance(value, str) else ""


def _show(repl: Repl, args: list[str]) -> None:
    info, state = repl.info, repl.state
    what = args[0] if args else ""
    if what == "info":
        repl.say(show_summary(info))
    elif what == "license":
        repl.say(_text(info.get("license")) or "No license was specified for this model.")
    elif what == "modelfile":
        repl.say(_text(info.get("modelfile")))
    elif what == "parameters":
        model_params = _text(info.get("parameters"))
        if model_params:
            repl.say("Model defined parameters:\n" + model_params)
        else:
            repl.say("No parameters were specified for this model.")
        if state.options:
            rows = [[name, format_parameter_value(value)] for name, value in state.options.items()]
            repl.say("User defined parameters:\n" + table(rows))
    elif what == "system":
        repl.say(
            state.system
            or _text(info.get("system"))
            or "No system message was specified for this model."
        )
    elif what == "template":
        repl.say(_text(info.get("template")) or "No prompt template was specified for this model.")
    elif not what:
        repl.say(HELP_SHOW)
    else:
        repl.say(f"Unknown command '/show {what}'. Type /? for help")


async def _load(repl: Repl, args: list[str]) -> None:
    if len(args) != 1:
        repl.say("Usage:\n  /load <modelname>")
        return
    model = args[0]
    repl.say(f"Loading model '{model}'")
    try:
        await repl.load(model)
    except NotFound:
        repl.say(f"Couldn't find model '{model}'")
        return
    repl.state.clear()


async def _save(repl: Repl, args: list[str]) -> None:
    if len(args) != 1:
        repl.say("Usage:\n  /save <modelname>")
        return
    state = repl.state
    fields: dict[str, object] = {"from_": state.model, "messages": state.messages}
    if state.system:
        fields["system"] = state.system
    if state.options:
        fields["parameters"] = state.options
    async for _ in repl.client.create(args[0], **fields):
        pass
    repl.say(f"Created new model '{args[0]}'")
    await repl.refresh_models()


async def _list(repl: Repl) -> None:
    answer = await repl.client.list()
    models = answer.get("models")
    repl.say(list_table(models if isinstance(models, list) else [], datetime.now(UTC)))


async def _sessions(repl: Repl) -> None:
    if repl.store is None:
        repl.say("Sessions are not being saved.")
        return
    rows = [
        [str(s.id), s.model, str(s.message_count), s.updated_at, s.title]
        for s in await asyncio.to_thread(repl.store.recent)
    ]
    if not rows:
        repl.say("No saved sessions.")
        return
    repl.say(table(rows, ["ID", "MODEL", "MESSAGES", "UPDATED", "FIRST MESSAGE"]))
    repl.say("Continue one with: corral run MODEL --resume ID")


def _help(repl: Repl, args: list[str]) -> None:
    topic = args[0] if args else ""
    repl.say({"set": HELP_SET, "show": HELP_SHOW, "shortcuts": HELP_SHORTCUTS}.get(topic, HELP))


async def handle_command(repl: Repl, line: str) -> Outcome:
    """Run one slash command typed at the prompt."""
    words = line.split()
    name, args = words[0], words[1:]
    simple: dict[str, Callable[[], Awaitable[None] | None]] = {
        "/set": lambda: _set(repl, args, line),
        "/show": lambda: _show(repl, args),
        "/load": lambda: _load(repl, args),
        "/save": lambda: _save(repl, args),
        "/list": lambda: _list(repl),
        "/sessions": lambda: _sessions(repl),
        "/help": lambda: _help(repl, args),
        "/?": lambda: _help(repl, args),
    }
    if name in ("/bye", "/exit"):
        return Outcome.EXIT
    if name == "/clear":
        repl.state.clear()
        repl.say("Cleared session context")
        return Outcome.CONTINUE
    handler = simple.get(name)
    if handler is None:
        repl.say(f"Unknown command '{name}'. Type /? for help")
        return Outcome.CONTINUE
    try:
        result = handler()
        if result is not None:
            await result
    except CorralError as exc:
        repl.say(f"Error: {exc.message}")
    return Outcome.CONTINUE

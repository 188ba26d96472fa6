"""The prompt line: key bindings, history file and completion for the REPL's `PromptSession`.

Enter sends; Alt+Enter or Ctrl+J inserts a newline; a bracketed paste is kept
verbatim, newlines included; Ctrl+G opens `$VISUAL`/`$EDITOR` on the text typed
so far and puts the result back on the line; Ctrl+C clears the line (reported
to the loop as KeyboardInterrupt) and Ctrl+D on an empty line leaves.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style

from corral.repl.completion import SlashCompleter

if TYPE_CHECKING:
    from corral.repl.loop import Repl

__all__ = ["PLACEHOLDER", "SwitchableHistory", "build_session", "key_bindings"]

PLACEHOLDER = FormattedText([("class:placeholder", "Send a message (/? for help)")])

_STYLE = Style.from_dict({"placeholder": "ansibrightblack"})


class SwitchableHistory(FileHistory):
    """A history file that `/set nohistory` stops writing to (it is still read)."""

    def __init__(self, path: Path, repl: Repl) -> None:
        super().__init__(str(path))
        self._path = path
        self._repl = repl

    def store_string(self, string: str) -> None:
        if not self._repl.state.history:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            super().store_string(string)
        except OSError:
            pass  # an unwritable home loses history, never the chat


def key_bindings() -> KeyBindings:
    """The REPL's own keys, on top of prompt-toolkit's Emacs defaults."""
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    @bindings.add("c-j")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-g")
    def _editor(event: KeyPressEvent) -> None:
        event.current_buffer.open_in_editor(validate_and_handle=False)

    return bindings


def build_session(
    repl: Repl, *, input: Input, output: Output | None, history_path: Path
) -> PromptSession[str]:
    """The `PromptSession` every prompt of `repl` reads from."""
    return PromptSession(
        history=SwitchableHistory(history_path, repl),
        completer=SlashCompleter(lambda: repl.model_names),
        complete_while_typing=False,
        key_bindings=key_bindings(),
        prompt_continuation="... ",
        style=_STYLE,
        input=input,
        output=output,
    )

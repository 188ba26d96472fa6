"""Tab completion at the `>>> ` prompt: slash commands, their arguments, parameters, models."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from corral.api.options import OPTION_TYPES

__all__ = ["COMMANDS", "SET_WORDS", "SHOW_WORDS", "SlashCompleter"]

COMMANDS = (
    "/set",
    "/show",
    "/load",
    "/save",
    "/clear",
    "/list",
    "/sessions",
    "/bye",
    "/exit",
    "/help",
    "/?",
)
SET_WORDS = (
    "parameter",
    "system",
    "history",
    "nohistory",
    "wordwrap",
    "nowordwrap",
    "format",
    "noformat",
    "verbose",
    "quiet",
    "think",
    "nothink",
)
SHOW_WORDS = ("info", "license", "modelfile", "parameters", "system", "template")
_HELP_WORDS = ("set", "show", "shortcuts")
_THINK_LEVELS = ("high", "medium", "low")


class SlashCompleter(Completer):
    """Completes the word under the cursor from what may stand there."""

    def __init__(self, models: Callable[[], Sequence[str]]) -> None:
        self._models = models

    def _choices(self, words: list[str]) -> Iterable[str]:
        """What may fill the word after `words` (the words already complete)."""
        if not words:
            return COMMANDS
        head = words[0]
        if head == "/set":
            if len(words) == 1:
                return SET_WORDS
            if len(words) == 2 and words[1] == "parameter":
                return sorted(OPTION_TYPES)
            if len(words) == 2 and words[1] == "format":
                return ("json",)
            if len(words) == 2 and words[1] == "think":
                return _THINK_LEVELS
        elif head == "/show" and len(words) == 1:
            return SHOW_WORDS
        elif head in ("/load", "/save") and len(words) == 1:
            return self._models()
        elif head in ("/help", "/?") and len(words) == 1:
            return _HELP_WORDS
        return ()

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        words = text.split()
        current = "" if text.endswith((" ", "\t")) else words.pop()
        for choice in self._choices(words):
            if choice.startswith(current):
                yield Completion(choice, start_position=-len(current))

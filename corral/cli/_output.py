"""Writing a streamed answer: word wrap on a terminal, thinking kept apart from the answer.

On a terminal, thinking is shown dimmed between `Thinking...` and
`...done thinking.` before the answer, and words wrap at the terminal's width
(unless `--nowordwrap`). When stdout is not a terminal it carries the answer
only, byte for byte: thinking goes to stderr, and nothing is wrapped or styled.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

import click

from corral.cli._progress import Spinner, is_tty

__all__ = ["AnswerPrinter", "WordWrapper", "stream_answer"]


class WordWrapper:
    """Wraps streamed text at `width` columns, holding back only the word being typed."""

    def __init__(self, write: Callable[[str], None], width: int) -> None:
        self._write = write
        self._width = max(width, 10)
        self._column = 0
        self._spaces = ""
        self._word = ""

    def feed(self, text: str) -> None:
        for char in text:
            if char == "\n":
                self._emit_word()
                self._write("\n")
                self._column = 0
                self._spaces = ""
            elif char in " \t":
                self._emit_word()
                self._spaces += char
            else:
                self._word += char
                if len(self._word) >= self._width:
                    self._emit_word()

    def flush(self) -> None:
        self._emit_word()
        if self._spaces and self._column + len(self._spaces) <= self._width:
            self._write(self._spaces)
            self._column += len(self._spaces)
        self._spaces = ""

    def _emit_word(self) -> None:
        if not self._word:
            return
        if self._column > 0 and self._column + len(self._spaces) + len(self._word) > self._width:
            self._write("\n")
            self._column = 0
            self._spaces = ""
        self._write(self._spaces + self._word)
        self._column += len(self._spaces) + len(self._word)
        self._spaces = ""
        self._word = ""


class AnswerPrinter:
    """Prints the `thinking` and `response` pieces of a stream where they belong."""

    def __init__(
        self, out: TextIO, err: TextIO, *, wrap: bool = True, hide_thinking: bool = False
    ) -> None:
        self._out = out
        self._err = err
        self._tty = is_tty(out)
        self._hide_thinking = hide_thinking
        self._thinking = False
        self._answer: list[str] = []
        self._wrapper: WordWrapper | None = None
        if wrap and self._tty:
            width = shutil.get_terminal_size((80, 24)).columns - 5
            self._wrapper = WordWrapper(self._write_out, width)

    def _write_out(self, text: str) -> None:
        self._out.write(text)

    @property
    def answer(self) -> str:
        """Everything passed to `content` so far (unwrapped)."""
        return "".join(self._answer)

    def thinking(self, text: str) -> None:
        if not text or self._hide_thinking:
            return
        if not self._tty:
            self._thinking = True
            self._err.write(text)
            self._err.flush()
            return
        if not self._thinking:
            self._thinking = True
            self._out.write(click.style("Thinking...\n", dim=True))
        self._out.write(click.style(text, dim=True))
        self._out.flush()

    def _end_thinking(self) -> None:
        if not self._thinking:
            return
        self._thinking = False
        if self._tty:
            self._out.write(click.style("\n...done thinking.\n\n", dim=True))
        else:
            self._err.write("\n")
            self._err.flush()

    def content(self, text: str) -> None:
        if not text:
            return
        self._end_thinking()
        self._answer.append(text)
        if self._wrapper is not None:
            self._wrapper.feed(text)
        else:
            self._out.write(text)
        self._out.flush()

    def finish(self) -> None:
        """End the answer: one newline on a pipe, a blank line after it on a terminal."""
        self._end_thinking()
        if self._wrapper is not None:
            self._wrapper.flush()
        self._out.write("\n\n" if self._tty else "\n")
        self._out.flush()


def stream_answer(
    chunks: Iterator[Mapping[str, Any]], printer: AnswerPrinter, *, key: str = "response"
) -> Mapping[str, Any] | None:
    """Print a generate (`key="response"`) or chat (`key="message"`) stream; returns the last chunk.

    A spinner turns on stderr (terminal only) until the first piece arrives.
    """
    final: Mapping[str, Any] | None = None
    spinner = Spinner(sys.stderr)
    spinner.start()
    try:
        for chunk in chunks:
            if key == "message":
                message = chunk.get("message")
                piece: Mapping[str, Any] = message if isinstance(message, Mapping) else {}
                thinking, content = piece.get("thinking"), piece.get("content")
            else:
                thinking, content = chunk.get("thinking"), chunk.get("response")
            if thinking or content:
                spinner.stop()
            printer.thinking(thinking if isinstance(thinking, str) else "")
            printer.content(content if isinstance(content, str) else "")
            if chunk.get("done"):
                final = chunk
    finally:
        spinner.stop()
    return final

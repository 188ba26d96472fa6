"""Showing a streamed answer: Markdown on a terminal, the bare text anywhere else.

On a terminal with word wrap on, the answer is cut into Markdown blocks
(paragraphs, lists, fenced code) as it arrives: each finished block is printed
once, rendered by rich (code highlighted, words wrapped at the terminal width),
and only the block still arriving is redrawn, in a rich `Live` region, so a long
answer costs no more per token than a short one. Thinking is shown dimmed
between `Thinking...` and `...done thinking.`. Without a terminal (or with
`nowordwrap`) the text is written as it comes, with no escape codes.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.text import Text

__all__ = ["AnswerView", "split_blocks"]

_FENCES = ("```", "~~~")


def split_blocks(text: str) -> tuple[list[str], str]:
    """Cut `text` into finished Markdown blocks and the unfinished rest.

    A block ends at a blank line outside a code fence, or at the line closing a
    fence. Only whole lines are considered; a partial last line stays in the rest.
    """
    blocks: list[str] = []
    start = 0
    fence: str | None = None
    position = 0
    while True:
        end = text.find("\n", position)
        if end < 0:
            break
        line = text[position:end].strip()
        position = end + 1
        if fence is not None:
            if line.startswith(fence):
                fence = None
                blocks.append(text[start:position])
                start = position
        elif line.startswith(_FENCES):
            fence = line[:3]
        elif not line:
            chunk = text[start:position]
            if chunk.strip():
                blocks.append(chunk)
            start = position
    return blocks, text[start:]


class AnswerView:
    """Writes one answer's thinking and content to `out`."""

    def __init__(
        self,
        out: TextIO,
        *,
        tty: bool,
        width: int = 80,
        markdown: bool = True,
        hide_thinking: bool = False,
    ) -> None:
        self._out = out
        self._tty = tty
        self._hide_thinking = hide_thinking
        self._thinking = False
        self._console: Console | None = None
        self._live: Live | None = None
        self._pending = ""
        self._blocks = 0
        self.text = ""
        """The answer so far, as received."""
        self.thoughts = ""
        """The thinking so far, as received."""
        if tty:
            self._console = Console(file=out, force_terminal=True, width=width, soft_wrap=False)
        self._markdown = tty and markdown

    def thinking(self, text: str) -> None:
        if not text:
            return
        self.thoughts += text
        if self._hide_thinking:
            return
        if not self._thinking:
            self._thinking = True
            self._write("Thinking...\n", dim=True)
        self._write(text, dim=True)

    def content(self, text: str) -> None:
        if not text:
            return
        self._end_thinking()
        self.text += text
        if not self._markdown:
            self._out.write(text)
            self._out.flush()
            return
        self._pending += text
        blocks, self._pending = split_blocks(self._pending)
        for block in blocks:
            self._print_block(block)
        if self._pending.strip():
            self._show_live(self._pending)

    def finish(self) -> None:
        """End the answer (also after an interrupt): the rest is printed, then a blank line."""
        self._end_thinking()
        if self._markdown and self._pending.strip():
            self._print_block(self._pending)
        self._pending = ""
        self._stop_live()
        if not self._markdown and self.text and not self.text.endswith("\n"):
            self._out.write("\n")
        self._out.write("\n")
        self._out.flush()

    # -- helpers ------------------------------------------------------------------

    def _write(self, text: str, *, dim: bool = False) -> None:
        if self._console is not None and dim:
            self._console.print(Text(text, style="dim"), end="", soft_wrap=True)
        else:
            self._out.write(text)
        self._out.flush()

    def _end_thinking(self) -> None:
        if self._thinking:
            self._thinking = False
            self._write("\n...done thinking.\n\n", dim=True)

    def _show_live(self, text: str) -> None:
        assert self._console is not None
        if self._live is None:
            self._live = Live(
                console=self._console,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="visible",
            )
            self._live.start()
        self._live.update(Markdown(text), refresh=True)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.update(Text(""), refresh=True)
            self._live.stop()
            self._live = None

    def _print_block(self, block: str) -> None:
        assert self._console is not None
        self._stop_live()
        if self._blocks:
            self._console.print()
        self._blocks += 1
        self._console.print(Markdown(block))

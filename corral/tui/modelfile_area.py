"""A TextArea for Modelfiles: instruction keywords highlighted, the bad line marked in red."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widgets import TextArea

from corral.modelfile import COMMANDS

__all__ = ["ModelfileArea"]

_ERROR = Style(bgcolor="#5f1f1f")
_KEYWORD = "bold #d787ff"


class ModelfileArea(TextArea):
    """Set `error_line` (1-based, None for none) to mark a line."""

    DEFAULT_CSS = """
    ModelfileArea { height: 1fr; }
    """

    def __init__(self, text: str = "", **kwargs: object) -> None:
        super().__init__(
            text,
            show_line_numbers=True,
            tab_behavior="indent",
            soft_wrap=False,
            **kwargs,  # type: ignore[arg-type]
        )
        self._error_line: int | None = None

    @property
    def error_line(self) -> int | None:
        return self._error_line

    @error_line.setter
    def error_line(self, line: int | None) -> None:
        if line != self._error_line:
            self._error_line = line
            self._line_cache.clear()
            self.refresh()

    def get_line(self, line_index: int) -> Text:
        text = super().get_line(line_index)
        word = text.plain.lstrip().split(" ", 1)[0]
        if word.upper() in COMMANDS:
            start = len(text.plain) - len(text.plain.lstrip())
            text.stylize(_KEYWORD, start, start + len(word))
        return text

    def _render_line(self, y: int) -> Strip:
        strip = super()._render_line(y)
        if self._error_line is None:
            return strip
        try:
            info = self.wrapped_document._offset_to_line_info[y + self.scroll_offset.y]
        except IndexError:
            return strip
        if info is not None and info[0] == self._error_line - 1:
            segments = [
                Segment(seg.text, (seg.style or Style()) + _ERROR, seg.control) for seg in strip
            ]
            return Strip(segments, strip.cell_length)
        return strip

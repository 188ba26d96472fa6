"""A dialog showing the editor's text against the Modelfile it was opened from."""

from __future__ import annotations

import difflib
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["DiffView", "modelfile_diff"]


def modelfile_diff(origin: str, text: str, name: str = "model") -> str:
    """A unified diff; empty when nothing changed."""
    lines = difflib.unified_diff(
        origin.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=f"{name} (saved)",
        tofile=f"{name} (edited)",
    )
    return "".join(lines)


class DiffView(ModalScreen[None]):
    """Esc or q closes it."""

    DEFAULT_CSS = """
    DiffView { align: center middle; }
    DiffView > VerticalScroll {
        width: 90%; height: 80%; border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, diff: str) -> None:
        super().__init__()
        self.diff = diff

    def compose(self) -> ComposeResult:
        text = Text()
        for line in self.diff.splitlines(keepends=True) or ["no changes\n"]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            text.append(line, style=style)
        with VerticalScroll():
            yield Static(text, id="diff")

"""The chat settings dialog: the system prompt and the options of one chat."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea

from corral.errors import CorralError
from corral.tui.transcript import format_options, parse_options

__all__ = ["ChatSettings"]


class ChatSettings(ModalScreen[tuple[str | None, dict[str, Any]] | None]):
    """Returns (system, options) on Save, None on Esc; bad options are shown, not returned."""

    DEFAULT_CSS = """
    ChatSettings { align: center middle; }
    ChatSettings > Vertical {
        width: 76; max-width: 95%; height: auto; max-height: 95%;
        border: thick $primary; padding: 0 1; background: $surface;
    }
    ChatSettings TextArea { height: 6; }
    ChatSettings #error { color: $error; height: auto; }
    ChatSettings Horizontal { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, system: str | None, options: dict[str, Any]) -> None:
        super().__init__()
        self._system = system or ""
        self._options = options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("System prompt")
            yield TextArea(self._system, id="system")
            yield Label("Options (name=value ..., e.g. temperature=0.7 num_ctx=4096)")
            yield Input(format_options(self._options), id="options")
            yield Label("", id="error")
            with Horizontal():
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted, "#options")
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        try:
            options = parse_options(self.query_one("#options", Input).value)
        except CorralError as exc:
            self.query_one("#error", Label).update(exc.message)
            return
        system = self.query_one("#system", TextArea).text.strip() or None
        self.dismiss((system, options))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

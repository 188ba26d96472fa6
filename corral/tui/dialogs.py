"""Small modal dialogs: ask for a model name, confirm a destructive action, push a model."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

__all__ = ["ConfirmDialog", "NameDialog", "PushDialog"]

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 60; max-width: 90%; height: auto; border: thick $primary; padding: 1 2;
    background: $surface;
}}
{name} Horizontal {{ height: auto; margin-top: 1; }}
{name} Button {{ margin-right: 2; }}
"""


class NameDialog(ModalScreen[str | None]):
    """One line of text (a model name); Enter returns it, Esc returns None."""

    DEFAULT_CSS = _CSS.format(name="NameDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self._title = title
        self._placeholder = placeholder
        self._value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title)
            yield Input(self._value, placeholder=self._placeholder, id="name")

    @on(Input.Submitted, "#name")
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; `y` or the Yes button confirms, `n` or Esc declines."""

    DEFAULT_CSS = _CSS.format(name="ConfirmDialog")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "dismiss(True)", "Yes"),
        Binding("n,escape", "dismiss(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._question)
            with Horizontal():
                yield Button("Yes", variant="error", id="yes")
                yield Button("No", variant="primary", id="no")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class PushDialog(ModalScreen[tuple[str, bool] | None]):
    """The name to push (`host/namespace/model:tag`) and whether the registry is plain HTTP.

    Enter in the name field returns (name, insecure); Esc returns None.
    """

    DEFAULT_CSS = _CSS.format(name="PushDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Push to the registry its name names")
            yield Input(self._name, placeholder="host/namespace/model:tag", id="name")
            yield Checkbox("insecure: plain HTTP registry", id="insecure")

    @on(Input.Submitted, "#name")
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.dismiss(None)
            return
        self.dismiss((value, self.query_one("#insecure", Checkbox).value))

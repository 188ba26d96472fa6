"""The Modelfile editor: validation as you type (the parser of `corral create`), then create.

Opened empty (F4), from a model (`e` on the models screen: its `show --modelfile`
text) or from a file (Ctrl+O). Ctrl+S creates the model named in the name box,
streaming the daemon's progress into the status line. A FROM or ADAPTER naming a
local GGUF file (or checkpoint directory) is hashed and uploaded first, the path taken
from the opened file's directory, else the current one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, TextArea

from corral.errors import CorralError, ModelfileError
from corral.modelfile import parse
from corral.tui.create_fields import create_body, error_line
from corral.tui.dialogs import NameDialog
from corral.tui.diff_view import DiffView, modelfile_diff
from corral.tui.modelfile_area import ModelfileArea
from corral.tui.services import deferred, services

__all__ = ["EditorScreen"]

TEMPLATE = "FROM smollm2:135m\nPARAMETER temperature 0.7\nSYSTEM You are a helpful assistant.\n"


class EditorScreen(Screen[None]):
    """`problem` holds the current parse error (empty when the text is valid)."""

    DEFAULT_CSS = """
    EditorScreen #editor-bar { height: 3; }
    EditorScreen #name { width: 1fr; }
    EditorScreen #problem { height: 1; color: $error; padding: 0 1; }
    EditorScreen #create-status { height: 1; color: $text-muted; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "create", "Create model", id="create_model", priority=True),
        Binding("ctrl+o", "open_file", "Open file", id="open_file"),
        Binding("f5", "diff", "Diff", id="diff"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.problem = ""
        self.create_status = ""
        self.origin: str | None = None
        self.base_dir: Path | None = None
        """The directory of the Modelfile file opened; local paths in it are taken from here."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="editor-bar"):
            yield Input(placeholder="name of the new model", id="name")
            yield Button("Create", variant="primary", id="create")
        yield ModelfileArea(TEMPLATE, id="modelfile")
        yield Label("", id="problem")
        yield Label("", id="create-status")
        yield Footer()

    def on_mount(self) -> None:
        self.validate()
        self.area.focus()

    @property
    def area(self) -> ModelfileArea:
        return self.query_one("#modelfile", ModelfileArea)

    def validate(self) -> ModelfileError | None:
        """Parse the text; mark and report the error, or clear the mark."""
        error: ModelfileError | None = None
        try:
            parse(self.area.text)
        except ModelfileError as exc:
            error = exc
        self.area.error_line = error.line or None if error else None
        self.problem = (
            (f"line {error.line}: {error.reason}" if error.line else error.reason) if error else ""
        )
        self.query_one("#problem", Label).update(self.problem)
        return error

    @on(TextArea.Changed, "#modelfile")
    def _changed(self) -> None:
        self.validate()

    def load(
        self, text: str, name: str = "", origin: str | None = None, base_dir: Path | None = None
    ) -> None:
        self.area.load_text(text)
        self.query_one("#name", Input).value = name
        self.origin = origin
        self.base_dir = base_dir
        self.validate()

    def open_model(self, name: str) -> None:
        """Load a model's Modelfile (in a worker)."""
        self.run_worker(
            deferred(self._open_model, name), group="load", exclusive=True, exit_on_error=False
        )

    async def _open_model(self, name: str) -> None:
        try:
            shown = await services(self).client.show(name)
        except CorralError as exc:
            self.notify(exc.message, severity="error", title=name)
            return
        text = str(shown.get("modelfile") or f"FROM {name}\n")
        self.load(text, f"{name.split(':')[0]}-custom", origin=text)

    def action_diff(self) -> None:
        """Show the changes against the model's saved Modelfile."""
        if self.origin is None:
            self.notify("open a model first (e on the models screen) to diff against it")
            return
        name = self.query_one("#name", Input).value or "model"
        self.app.push_screen(DiffView(modelfile_diff(self.origin, self.area.text, name)))

    def action_open_file(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self.run_worker(
                    deferred(self._open_file, Path(path).expanduser()), exit_on_error=False
                )

        self.app.push_screen(NameDialog("Open a Modelfile", "path/to/Modelfile"), chosen)

    async def _open_file(self, path: Path) -> None:
        try:
            text = await asyncio.to_thread(path.read_text)
            base_dir = await asyncio.to_thread(lambda: path.resolve().parent)
        except (OSError, UnicodeDecodeError) as exc:
            self.notify(f"cannot read {path}: {exc}", severity="error")
            return
        self.load(text, base_dir=base_dir)

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_create()

    def action_create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("give the new model a name first", severity="error")
            return
        if (error := self.validate()) is not None:
            self.notify(self.problem or error.message, severity="error", title="Modelfile")
            return
        self.run_worker(
            deferred(self._create, name), group="create", exclusive=True, exit_on_error=False
        )

    def _status(self, text: str) -> None:
        self.create_status = text
        self.query_one("#create-status", Label).update(text)

    def _mark(self, text: str, error: ModelfileError) -> None:
        """Mark the line a create-time error (a missing FROM file) names, as validation does."""
        if self.area.text != text:
            return
        line = error_line(text, error)
        self.area.error_line = line or None
        self.problem = f"line {line}: {error.reason}" if line else error.reason
        self.query_one("#problem", Label).update(self.problem)

    async def _create(self, name: str) -> None:
        text = self.area.text
        client = services(self).client
        try:
            self._status(f"{name}: gathering model components")
            base = self.base_dir
            if base is None:
                base = await asyncio.to_thread(Path.cwd)
            fields = await create_body(
                client, parse(text), base, lambda line: self._status(f"{name}: {line}")
            )
            async for event in client.create(name, **fields):
                self._status(f"{name}: {event.get('status', '')}")
        except ModelfileError as exc:
            self._mark(text, exc)
            self._status(f"{name}: failed")
            self.notify(exc.message, severity="error", title=f"create {name}")
            return
        except CorralError as exc:
            self._status(f"{name}: failed")
            self.notify(exc.message, severity="error", title=f"create {name}")
            return
        self.notify(f"created {name}", title="models")

"""The models screen: local models with filter and sort, details, pull, push, delete, copy.

Every daemon call runs in a worker; failures become notifications. A pull or a push
shows a progress bar per layer, then "done"; Esc cancels it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from corral.errors import CorralError
from corral.tui.details import render_details
from corral.tui.dialogs import ConfirmDialog, NameDialog, PushDialog
from corral.tui.format import human_size
from corral.tui.pull_progress import PullProgress
from corral.tui.services import deferred, services

__all__ = ["ModelsScreen"]

_COLUMNS = ("name", "size", "quantization", "family", "modified")


class ModelsScreen(Screen[None]):
    """`p` pull, `u` push, `d` delete, `c` copy, `r` refresh, `s` sort, `e` edit, `/` filter."""

    DEFAULT_CSS = """
    ModelsScreen #filter { height: 3; }
    ModelsScreen #models { width: 3fr; height: 1fr; }
    ModelsScreen #details { width: 2fr; border-left: solid $panel; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pull", "Pull", id="pull"),
        Binding("u", "push", "Push", id="push"),
        Binding("d", "delete", "Delete", id="delete"),
        Binding("c", "copy", "Copy", id="copy"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("e", "edit", "Edit Modelfile", id="edit"),
        Binding("escape", "cancel_pull", "Cancel transfer", id="cancel_pull", show=False),
        Binding("slash", "filter", "Filter", id="filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.models: list[dict[str, Any]] = []
        self._sort = 0
        self._pull: Worker[None] | None = None
        self._listed = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter models (/)", id="filter")
        with Horizontal():
            yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="details"):
                yield Static("", id="details-text", markup=False)
        yield PullProgress(id="transfer")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#models", DataTable)
        for column in _COLUMNS:
            table.add_column(column, key=column)
        self.query_one("#transfer").display = False
        self.action_refresh()
        table.focus()

    def on_screen_resume(self) -> None:
        if self._listed:  # coming back: a model may have been created or pulled meanwhile
            self.action_refresh()

    # -- listing ------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.run_worker(deferred(self._load), group="list", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            listing = await services(self).client.list()
        except CorralError as exc:
            self.notify(exc.message, severity="error", title="models")
            return
        self.models = [m for m in listing.get("models") or [] if isinstance(m, dict)]
        self._listed = True
        self._fill()

    @property
    def names(self) -> list[str]:
        """The model names shown now, in table order."""
        table = self.query_one("#models", DataTable)
        return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

    def _fill(self) -> None:
        table = self.query_one("#models", DataTable)
        text = self.query_one("#filter", Input).value.strip().lower()
        table.clear()
        for model in self.models:
            name = str(model.get("name", ""))
            details = model.get("details") or {}
            row = (
                name,
                human_size(int(model.get("size") or 0)),
                str(details.get("quantization_level") or ""),
                str(details.get("family") or ""),
                str(model.get("modified_at", ""))[:16].replace("T", " "),
            )
            if text and not any(text in cell.lower() for cell in row):
                continue
            table.add_row(*row, key=name)
        column = _COLUMNS[self._sort]
        if table.row_count:
            table.sort(column, key=lambda v: v if column != "size" else _size_key(str(v)))

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#models", DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_sort(self) -> None:
        self._sort = (self._sort + 1) % len(_COLUMNS)
        self._fill()
        self.notify(f"sorted by {_COLUMNS[self._sort]}", timeout=2)

    @property
    def selected(self) -> str | None:
        table = self.query_one("#models", DataTable)
        if not table.row_count:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    # -- details ------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#models")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.run_worker(
                deferred(self._details, str(event.row_key.value)),
                group="details",
                exclusive=True,
                exit_on_error=False,
            )

    async def _details(self, name: str) -> None:
        try:
            shown = await services(self).client.show(name)
        except CorralError as exc:
            self.notify(exc.message, severity="error", title=name)
            return
        self.query_one("#details-text", Static).update(render_details(name, shown))

    # -- pull and delete ------------------------------------------------------------

    def action_pull(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.pull(name)

        self.app.push_screen(NameDialog("Pull a model", "e.g. gemma3:270m"), chosen)

    @property
    def transferring(self) -> bool:
        """Whether a pull or a push is running (one at a time: they share the progress)."""
        return self._pull is not None and self._pull.state in {
            WorkerState.PENDING,
            WorkerState.RUNNING,
        }

    def _refuse_second(self) -> bool:
        if self.transferring:
            self.notify("a pull or push is running; Esc cancels it", severity="warning")
        return self.transferring

    def pull(self, name: str) -> None:
        """Pull `name` in a worker, showing its progress."""
        if self._refuse_second():
            return
        self._pull = self.run_worker(
            deferred(self._transfer, "pull", name, False), group="pull", exit_on_error=False
        )

    def action_push(self) -> None:
        name = self.selected
        if name is None:
            self.notify("no model to push", severity="warning")
            return

        def chosen(answer: tuple[str, bool] | None) -> None:
            if answer:
                self.push(*answer)

        self.app.push_screen(PushDialog(name), chosen)

    def push(self, name: str, insecure: bool = False) -> None:
        """Push `name` to its registry in a worker, showing its progress."""
        if self._refuse_second():
            return
        self._pull = self.run_worker(
            deferred(self._transfer, "push", name, insecure), group="pull", exit_on_error=False
        )

    @property
    def progress(self) -> PullProgress:
        return self.query_one("#transfer", PullProgress)

    @property
    def pull_status(self) -> str:
        """The status line of the last pull or push (`NAME: done`, `NAME: failed`)."""
        return self.progress.status

    async def _transfer(self, verb: str, name: str, insecure: bool) -> None:
        client = services(self).client
        progress = self.progress
        await progress.reset()
        progress.display = True
        progress.set_status(f"{name}: starting {verb}")
        events = client.pull(name) if verb == "pull" else client.push(name, insecure=insecure)
        try:
            async for event in events:
                text = str(event.get("status", ""))
                await progress.update_from(event)
                progress.set_status(f"{name}: {text}")
                if text == "success":
                    progress.complete()
                    progress.set_status(f"{name}: done")
        except CorralError as exc:
            progress.set_status(f"{name}: failed")
            self.notify(exc.message, severity="error", title=f"{verb} {name}")
            return
        self.notify(f"{verb}ed {name}", title="models")
        if verb == "pull":
            await self._load()

    def action_cancel_pull(self) -> None:
        if self._pull is not None and self.transferring:
            self._pull.cancel()
            self.progress.set_status("transfer canceled")

    def action_delete(self) -> None:
        name = self.selected
        if name is None:
            self.notify("no model to delete", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(deferred(self._delete, name), group="delete", exit_on_error=False)

        self.app.push_screen(ConfirmDialog(f"Delete {name}?"), confirmed)

    async def _delete(self, name: str) -> None:
        try:
            await services(self).client.delete(name)
        except CorralError as exc:
            self.notify(exc.message, severity="error", title=f"delete {name}")
            return
        self.notify(f"deleted {name}", title="models")
        await self._load()

    def action_copy(self) -> None:
        source = self.selected
        if source is None:
            self.notify("no model to copy", severity="warning")
            return

        def chosen(destination: str | None) -> None:
            if destination:
                self.run_worker(deferred(self._copy, source, destination), exit_on_error=False)

        self.app.push_screen(NameDialog(f"Copy {source} to", "new name"), chosen)

    async def _copy(self, source: str, destination: str) -> None:
        try:
            await services(self).client.copy(source, destination)
        except CorralError as exc:
            self.notify(exc.message, severity="error", title=f"copy {source}")
            return
        self.notify(f"copied {source} to {destination}", title="models")
        await self._load()

    async def action_edit(self) -> None:
        name = self.selected
        if name is None:
            self.notify("no model to edit", severity="warning")
            return
        await self.app.run_action(f"edit_model({name!r})")


def _size_key(text: str) -> float:
    number, _, unit = text.partition(" ")
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}.get(unit, 1)
    try:
        return float(number) * scale
    except ValueError:
        return 0.0

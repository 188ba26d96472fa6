"""The system panel: the daemon machine's GPUs, RAM and CPU, and the loaded models.

Polls `GET /api/system` and `/api/ps` every `Services.poll` seconds in a worker and ticks
the keep-alive countdowns every second from the last answer. `u` unloads the
highlighted model (a request with `keep_alive: 0`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Sparkline

from corral.errors import CorralError
from corral.tui.format import countdown, human_size
from corral.tui.gpu_card import HISTORY, GpuCard
from corral.tui.services import deferred, services

__all__ = ["NO_GPU", "SystemScreen"]

NO_GPU = "No GPU found on the daemon's machine: models run on the CPU."


class SystemScreen(Screen[None]):
    """Live hardware and loaded models, refreshed every `Services.poll` seconds."""

    DEFAULT_CSS = """
    SystemScreen #gpus { height: auto; }
    SystemScreen #host Sparkline { height: 1; }
    SystemScreen #host { height: auto; margin-bottom: 1; }
    SystemScreen .heading { text-style: bold; }
    SystemScreen #loaded { height: auto; max-height: 12; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("u", "unload", "Unload model", id="unload"),
        Binding("r", "refresh", "Refresh", id="refresh_system"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[dict[str, Any]] = []
        self.gpu_count: int | None = None
        self.cpu: deque[float] = deque(maxlen=HISTORY)
        self.ram: deque[float] = deque(maxlen=HISTORY)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Label("GPUs", classes="heading")
            yield Vertical(id="gpus")
            with Vertical(id="host"):
                yield Label("", id="host-text")
                yield Sparkline([], id="cpu-spark")
                yield Sparkline([], id="ram-spark")
            yield Label("Loaded models", classes="heading")
            yield DataTable(id="loaded", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#loaded", DataTable)
        for column in ("name", "size", "processor", "context", "queue", "until"):
            table.add_column(column, key=column)
        self.action_refresh()
        self.set_interval(services(self).poll, self.action_refresh)
        self.set_interval(1.0, self.tick)

    def action_refresh(self) -> None:
        self.run_worker(deferred(self._poll), group="poll", exclusive=True, exit_on_error=False)

    async def _poll(self) -> None:
        client = services(self).client
        try:
            system = await client.system()
            ps = await client.ps()
        except CorralError as exc:
            self.notify(exc.message, severity="error", title="system")
            return
        await self.show_system(system)
        self.show_loaded([m for m in ps.get("models") or [] if isinstance(m, dict)])

    async def show_system(self, system: Mapping[str, Any]) -> None:
        """Render one `/api/system` answer (also used by snapshot tests with fixed data)."""
        gpus = [g for g in system.get("gpus") or [] if isinstance(g, dict)]
        box = self.query_one("#gpus", Vertical)
        if len(gpus) != self.gpu_count:
            await box.remove_children()
            if gpus:
                await box.mount_all([GpuCard(int(g.get("index") or i)) for i, g in enumerate(gpus)])
            else:
                await box.mount(Label(NO_GPU, id="no-gpu"))
            self.gpu_count = len(gpus)
        for card, gpu in zip(box.query(GpuCard), gpus, strict=False):
            card.update_gpu(gpu)
        memory = system.get("memory") or {}
        cpu = system.get("cpu") or {}
        total, available = int(memory.get("total") or 0), int(memory.get("available") or 0)
        used = total - available
        percent = cpu.get("percent")
        self.cpu.append(float(percent or 0))
        self.ram.append(100.0 * used / total if total else 0.0)
        cpu_text = f"{percent:.0f}%" if isinstance(percent, int | float) else "n/a"
        self.query_one("#host-text", Label).update(
            f"RAM {human_size(used)} / {human_size(total)} · "
            f"CPU {cpu_text} of {cpu.get('count', '?')} cores"
        )
        self.query_one("#cpu-spark", Sparkline).data = list(self.cpu)
        self.query_one("#ram-spark", Sparkline).data = list(self.ram)

    def show_loaded(self, models: list[dict[str, Any]], now: datetime | None = None) -> None:
        """Render the `/api/ps` models; `now` fixes the countdown (snapshot tests)."""
        self.loaded = models
        table = self.query_one("#loaded", DataTable)
        keep = table.cursor_row
        table.clear()
        moment = now or services(self).now()
        for model in models:
            name = str(model.get("name", ""))
            size, vram = int(model.get("size") or 0), int(model.get("size_vram") or 0)
            processor = "100% CPU" if not vram else f"{100 * vram // max(size, 1)}% GPU"
            queue = f"{model.get('queue_depth', 0)} waiting, {model.get('active_requests', 0)} busy"
            table.add_row(
                name,
                human_size(size),
                processor,
                str(model.get("context_length", "")),
                queue,
                countdown(str(model.get("expires_at", "")), moment),
                key=name,
            )
        if models:
            table.move_cursor(row=min(keep, len(models) - 1))
        if not models:
            table.add_row("(no model loaded)", "", "", "", "", "", key="")

    def tick(self) -> None:
        table = self.query_one("#loaded", DataTable)
        now = services(self).now()
        for model in self.loaded:
            name = str(model.get("name", ""))
            try:
                table.update_cell(name, "until", countdown(str(model.get("expires_at", "")), now))
            except Exception:  # the row went away between polls
                continue

    def countdown_of(self, name: str) -> str:
        table = self.query_one("#loaded", DataTable)
        return str(table.get_cell(name, "until"))

    def action_unload(self) -> None:
        table = self.query_one("#loaded", DataTable)
        if not self.loaded or not table.row_count:
            self.notify("no model is loaded", severity="warning")
            return
        name = str(table.get_row_at(table.cursor_row)[0])
        self.run_worker(deferred(self._unload, name), group="unload", exit_on_error=False)

    async def _unload(self, name: str) -> None:
        try:
            async for _ in services(self).client.generate(name, keep_alive=0):
                pass
        except CorralError as exc:
            self.notify(exc.message, severity="error", title=f"unload {name}")
            return
        self.notify(f"unloaded {name}", title="system")
        await self._poll()

"""The TUI models screen under Pilot: list, filter, details, pull from the catalog, delete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from textual.widgets import Static

from corral.tui.models_screen import ModelsScreen
from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.tui_helpers import make_app, wait_for

pytestmark = pytest.mark.integration


async def test_models_table_filter_and_details(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await wait_for(pilot, lambda: CATALOG_MODEL in screen.names)
        details = screen.query_one("#details-text", Static)
        await wait_for(pilot, lambda: "capabilities" in str(details.content))
        assert "template" in str(details.content)
        await pilot.press("slash", *"no-such-model")
        await wait_for(pilot, lambda: screen.names == [])
        await pilot.press(*["backspace"] * 13, *"smollm2:135")
        await wait_for(pilot, lambda: CATALOG_MODEL in screen.names)
        # Copy the highlighted model under a new name.
        await pilot.press("enter")  # leave the filter for the table
        table = screen.query_one("#models")
        table.move_cursor(row=screen.names.index(CATALOG_MODEL))  # type: ignore[attr-defined]
        await pilot.press("c", *"tui-copy", "enter")
        await pilot.press("slash", *["backspace"] * 11, "enter")
        await wait_for(pilot, lambda: "tui-copy:latest" in screen.names)
    async with httpx.AsyncClient(timeout=30) as http:
        await http.request("DELETE", f"{daemon.url}/api/delete", json={"model": "tui-copy"})


async def test_pull_unknown_model_is_a_notification(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        screen.pull("Not A Name!")
        await wait_for(pilot, lambda: screen.pull_status.endswith("failed"))
        assert any("Not A Name!" in n.message for n in app._notifications)


async def test_pull_gemma_from_catalog_then_delete(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    fresh = make_daemon()
    app = make_app(fresh, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await pilot.press("p", *"gemma3:270m", "enter")
        seen_partial: list[float] = []

        def done() -> bool:
            for bar in screen.progress.bars.values():
                if bar.percentage is not None and bar.percentage < 1:
                    seen_partial.append(bar.percentage)
            return screen.pull_status.endswith(": done") or screen.pull_status.endswith("failed")

        await wait_for(pilot, done, steps=20 * 60 * 10)
        assert screen.pull_status == "gemma3:270m: done"
        bars = screen.progress.bars
        assert bars, "no layer got a progress bar"
        assert all(bar.percentage == 1.0 for bar in bars.values())
        assert seen_partial, "the bar never showed partial progress"
        await wait_for(pilot, lambda: "gemma3:270m" in screen.names)
        screen.query_one("#models").focus()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert "gemma3:270m" in screen.names
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: "gemma3:270m" not in screen.names)

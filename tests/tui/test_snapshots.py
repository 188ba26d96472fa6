"""SVG snapshots of every screen at 80×24 and 120×40, on fixed daemon answers.

Update after an intended layout change with `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from corral.tui.chat_screen import ChatScreen
from corral.tui.models_screen import ModelsScreen
from corral.tui.system_screen import SystemScreen
from tests.tui.fixed_daemon import fixed_app

SIZES = [(80, 24), (120, 40)]


async def _settle(pilot: Pilot[None], ready: Callable[[], bool]) -> None:
    for _ in range(400):
        if ready():
            break
        await pilot.pause(0.02)
    for widget in pilot.app.screen.query("TextArea, Input"):
        assert isinstance(widget, TextArea | Input)
        widget.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_chat_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = fixed_app(tmp_path, with_chat=True)

    async def before(pilot: Pilot[None]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, ChatScreen)
        session = app.services.store.get(1)
        await screen.open_chat(session)
        await _settle(pilot, lambda: screen.current is not None and bool(screen.current.fit))

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_models_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = fixed_app(tmp_path)

    async def before(pilot: Pilot[None]) -> None:
        await pilot.press("f2")
        screen = pilot.app.screen
        assert isinstance(screen, ModelsScreen)
        await _settle(pilot, lambda: len(screen.names) == 2)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_system_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = fixed_app(tmp_path)

    async def before(pilot: Pilot[None]) -> None:
        await pilot.press("f3")
        screen = pilot.app.screen
        assert isinstance(screen, SystemScreen)
        await _settle(pilot, lambda: bool(screen.loaded) and screen.gpu_count == 1)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_editor_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = fixed_app(tmp_path)

    async def before(pilot: Pilot[None]) -> None:
        await pilot.press("f4")
        screen = pilot.app.screen
        screen.area.load_text("FROM smollm2:135m\nBOGUS line\nPARAMETER temperature 0.5\n")  # type: ignore[attr-defined]
        await _settle(pilot, lambda: screen.area.error_line == 2)  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=size, run_before=before)

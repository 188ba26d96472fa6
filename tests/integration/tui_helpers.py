"""Shared helpers for the TUI Pilot tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from corral.sessions import SessionStore
from corral.tui import CorralApp
from tests.integration.conftest import Daemon


def make_app(daemon: Daemon, tmp_path: Path) -> CorralApp:
    return CorralApp(daemon.host, store=SessionStore(tmp_path / "sessions.db"))


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], steps: int = 1200) -> None:
    """Let the app run until `condition` holds (bounded by steps of 0.05 s, not asserted)."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the condition never held")

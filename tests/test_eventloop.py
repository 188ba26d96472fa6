"""The servers' event loop: uvloop when it imports, asyncio's own otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from corral import eventloop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_servers_run_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    assert eventloop.run(_loop_module()).startswith("uvloop")


def test_without_uvloop_the_standard_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now fails
    assert eventloop.loop_factory() is None
    assert eventloop.run(_loop_module()).startswith("asyncio")

"""The event loop corral's servers run on: uvloop where it is installed, else asyncio's own.

Every streamed token crosses the daemon's loop and, on the way in, the runner's; uvloop's
C loop costs each of those wake-ups about a quarter less CPU than the pure-Python one, and
on a machine whose cores all decode that CPU is taken from llama.cpp. uvloop does not exist
on Windows, where corral falls back to the standard loop without a word.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's `new_event_loop` when uvloop imports, else None (asyncio's default)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `loop_factory` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)

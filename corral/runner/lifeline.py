"""Ties the runner's life to its parent's, so no runner outlives a killed daemon.

Two guards: on Linux the kernel sends SIGKILL when the parent dies
(prctl PR_SET_PDEATHSIG), and a watchdog thread exits when the parent pid changes,
which also covers platforms without prctl.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading

__all__ = ["set_parent_death_signal", "start_parent_watchdog"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; return whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        result = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return bool(result == 0)


def start_parent_watchdog(parent_pid: int, *, interval: float = 0.5) -> threading.Thread:
    """Start a daemon thread that ends the process as soon as `parent_pid` is no longer our parent.

    It checks once right away too, so a parent that died before we started is caught.
    """
    if os.getppid() != parent_pid:
        _die(parent_pid)

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            if os.getppid() != parent_pid:
                _die(parent_pid)

    thread = threading.Thread(target=watch, name="parent-watchdog", daemon=True)
    thread.start()
    return thread


def _die(parent_pid: int) -> None:
    logger.warning("parent pid=%d is gone; exiting", parent_pid)
    # os._exit: the llama worker thread may be inside a C call; nothing to flush but logs.
    logging.shutdown()
    os._exit(1)

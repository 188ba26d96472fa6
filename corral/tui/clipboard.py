"""Copying text: OSC 52 through the terminal, plus the system clipboard tool where one exists.

OSC 52 reaches the clipboard of the machine the terminal runs on (also over ssh) when
the terminal allows it; a local tool (`wl-copy`, `xclip`, `xsel`, `pbcopy`) covers the
terminals that do not.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable

from textual.app import App

__all__ = ["TOOLS", "copy_text", "system_copy_command"]

TOOLS: tuple[tuple[str, ...], ...] = (
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("pbcopy",),
)


def system_copy_command(which: Callable[[str], str | None] = shutil.which) -> list[str] | None:
    """The first clipboard tool on PATH, as a command line, or None."""
    for tool in TOOLS:
        path = which(tool[0])
        if path:
            return [path, *tool[1:]]
    return None


def _run(command: list[str], text: str) -> None:
    try:
        subprocess.run(command, input=text.encode(), timeout=5, check=False, capture_output=True)
    except (OSError, subprocess.SubprocessError):
        pass  # OSC 52 already went out; the local tool is a bonus


def copy_text(app: App[object], text: str) -> None:
    """Copy through OSC 52 now and through the system tool in a thread."""
    app.copy_to_clipboard(text)
    command = system_copy_command()
    if command is not None:
        app.run_worker(asyncio.to_thread(_run, command, text), exit_on_error=False)

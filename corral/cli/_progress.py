"""Progress on stderr: redrawn bars and a spinner on a terminal, plain status lines elsewhere.

`Progress` consumes the `{"status", "digest"?, "total"?, "completed"?}` events
that pull, push and create stream. On a terminal each digest gets a bar
(`pulling 970aa74c0a90:  45% ▕████      ▏ 900 MB/2.0 GB`) and the block is
redrawn in place; on a pipe or file each new status is printed once, with no
escape codes. `Spinner` animates while the CLI waits for a first token.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TextIO

from corral.display import human_bytes

__all__ = ["Progress", "Spinner", "bar_line", "is_tty"]

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_CLEAR_LINE = "\r\033[K"
_REDRAW_EVERY = 0.1


def is_tty(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (False for pipes, files, test buffers)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _width(stream: TextIO) -> int:
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def bar_line(message: str, total: int, completed: int, width: int = 80) -> str:
    """One progress bar line, fitted to `width` columns."""
    percent = 100.0 * completed / total if total > 0 else 0.0
    percent = min(max(percent, 0.0), 100.0)
    prefix = f"{message} {percent:3.0f}%"
    if total > 0 and completed >= total:
        suffix = human_bytes(total)
    else:
        suffix = f"{human_bytes(completed)}/{human_bytes(total)}"
    suffix = suffix.ljust(13)
    room = width - len(prefix) - len(suffix) - 6
    if room < 5:
        return f"{prefix} {suffix}".rstrip()[: width - 1]
    filled = int(room * percent / 100)
    return f"{prefix} ▕{'█' * filled}{' ' * (room - filled)}▏ {suffix}".rstrip()


@dataclass(slots=True)
class _Line:
    message: str
    total: int = 0
    completed: int = 0
    is_bar: bool = False


class Progress:
    """Renders a stream of progress events on `stream` (stderr).

    Use as a context manager, or call `close()`: on a terminal the last frame
    is drawn in full and the cursor left on a fresh line, even after an error.
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self._stream = stream
        self._tty = is_tty(stream) if tty is None else tty
        self._lines: dict[str, _Line] = {}
        self._drawn = 0
        self._last_draw = 0.0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def update(self, event: Mapping[str, Any]) -> None:
        """Show one progress event."""
        status = event.get("status")
        status = status if isinstance(status, str) else ""
        digest = event.get("digest")
        total = event.get("total")
        completed = event.get("completed")
        if isinstance(digest, str) and digest and isinstance(total, int) and total > 0:
            message = status or f"pulling {digest.removeprefix('sha256:')[:12]}"
            self.bar(digest, message, total, completed if isinstance(completed, int) else 0)
        elif status and isinstance(total, int) and total > 0 and isinstance(completed, int):
            self.bar(status, status, total, completed)  # e.g. converting model, tensor n of N
        elif status:
            self.status(status)

    def status(self, message: str) -> None:
        """A line of text (a spinner line on a terminal), shown once per distinct message."""
        if message in self._lines:
            return
        self._lines[message] = _Line(message)
        if self._tty:
            self._draw(force=True)
        else:
            self._stream.write(message + "\n")
            self._stream.flush()

    def bar(self, key: str, message: str, total: int, completed: int) -> None:
        """Create or advance the bar named `key`."""
        line = self._lines.get(key)
        new = line is None
        if line is None:
            line = self._lines[key] = _Line(message, total, completed, is_bar=True)
            if not self._tty:
                self._stream.write(f"{message} ({human_bytes(total)})\n")
                self._stream.flush()
        line.total, line.completed = total, max(line.completed, completed)
        if self._tty:
            self._draw(force=new or completed >= total)

    def close(self) -> None:
        """Draw the final frame and end the block with a newline (terminal only)."""
        if self._closed:
            return
        self._closed = True
        if self._tty and self._lines:
            self._draw(force=True, final=True)
            self._stream.write("\n")
            self._stream.flush()

    def _render(self, line: _Line, width: int, last: bool, final: bool) -> str:
        if line.is_bar:
            return bar_line(line.message, line.total, line.completed, width)
        if last and not final:
            frame = _FRAMES[int(time.monotonic() * 10) % len(_FRAMES)]
            return f"{line.message} {frame}"[: width - 1]
        return line.message[: width - 1]

    def _draw(self, *, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < _REDRAW_EVERY:
            return
        self._last_draw = now
        width = _width(self._stream)
        lines = list(self._lines.values())
        frame = "\033[?25l"  # hide the cursor while redrawing
        if self._drawn > 1:
            frame += f"\033[{self._drawn - 1}A"
        frame += "\r"
        frame += "\n".join(
            "\033[K" + self._render(line, width, i == len(lines) - 1, final)
            for i, line in enumerate(lines)
        )
        frame += "\033[?25h"
        self._drawn = len(lines)
        self._stream.write(frame)
        self._stream.flush()


class Spinner:
    """A spinner on `stream` while waiting; draws nothing unless `stream` is a terminal."""

    def __init__(self, stream: TextIO, message: str = "", *, enabled: bool | None = None) -> None:
        self._stream = stream
        self._message = message
        self._enabled = is_tty(stream) if enabled is None else enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Spinner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if not self._enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._spin, name="corral-spinner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and erase the spinner; safe to call more than once."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._stream.write(_CLEAR_LINE + "\033[?25h")
        self._stream.flush()

    def _spin(self) -> None:
        index = 0
        while not self._stop.wait(0.1 if index else 0.0):
            text = f"{self._message} {_FRAMES[index % len(_FRAMES)]}".strip()
            self._stream.write(_CLEAR_LINE + "\033[?25l" + text)
            self._stream.flush()
            index += 1

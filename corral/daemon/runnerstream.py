"""Reading a runner's completion stream: an HTTP/1.0 response of one JSON object a line.

A streamed token costs the daemon one read of the runner's socket, so this path is kept
short: a protocol splits what arrives into lines as it arrives, and the reader takes
them without a future, a task wake-up or a buffer search for each, which asyncio's
`StreamReader.readline` costs. The socket stops being read while many lines wait (the
client is slow), so a runner that is ahead waits for the client instead of filling the
daemon's memory.

A reader may also hand the stream a `Forward` callback: each plain piece
(`{"content":"..."}`, the runner's line for text without logprobs) is then offered to it
as it arrives, still JSON-encoded, and only what it declines is queued as a line. The
native streaming routes use it to write a token to their client without waking the
request's coroutine (`streaming.PieceRelay`).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

__all__ = ["CompletionStream", "Forward", "open_completion", "status_of"]

Forward = Callable[[bytes], bool]
"""Takes a piece's text as a JSON string (quotes and escapes included): True when it
was delivered, False to have it queued as a line instead."""

MAX_LINE = 64 * 1024 * 1024
"""The longest line a runner may send (a piece with many tokens' logprobs)."""
_PIECE = b'{"content":"'
"""How a plain piece's line starts; it ends with the string's closing quote and `}`."""
_PAUSE_AT = 256
"""Lines waiting to be read at which the socket stops being read, until the reader catches up."""


def status_of(head: bytes) -> int:
    """The status code of an HTTP response head (`HTTP/1.0 200 OK...`).

    Raises:
        ValueError: `head` is not an HTTP response.
    """
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {head[:80]!r}")
    return int(parts[1])


class CompletionStream(asyncio.Protocol):
    """One completion response from a runner: its status, then its body's lines."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._status = 0
        self._lines: collections.deque[bytes] = collections.deque()
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._forward: Forward | None = None

    def forward(self, forward: Forward | None) -> None:
        """Offer each plain piece to `forward` before queueing it (see the module's doc).

        A piece is offered only while no line waits, so the order of lines is kept.
        """
        self._forward = forward

    # -- the protocol (called by the event loop) ------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._status:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_LINE:
                    self._too_long()
                return
            try:
                self._status = status_of(bytes(buffer[:end]))
            except ValueError as exc:
                self._fail(exc)
                return
            del buffer[: end + 4]
            self._wake()
        if self._status < 400:  # an error's body is read whole, at the end
            start = 0
            lines, forward = self._lines, self._forward
            while (newline := buffer.find(b"\n", start)) >= 0:
                if newline > start and not (
                    forward is not None
                    and not lines
                    and buffer.startswith(_PIECE, start, newline)
                    and buffer.endswith(b'"}', start, newline)
                    and forward(bytes(buffer[start + len(_PIECE) - 1 : newline - 1]))
                ):
                    lines.append(bytes(buffer[start:newline]))
                start = newline + 1
            del buffer[:start]
            if lines:  # else the forward took them all, and the reader sleeps on
                self._wake()
                if len(lines) >= _PAUSE_AT and not self._paused and self._transport:
                    self._paused = True
                    self._transport.pause_reading()
        if len(buffer) > MAX_LINE:
            self._too_long()

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        return False  # close the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        if exc is not None and self._error is None:
            self._error = exc
        self._wake()

    # -- the reader (a coroutine of the daemon) --------------------------------------------
    async def status(self) -> int:
        """Wait for the response head; its status code."""
        while not self._status:
            await self._wait()
        return self._status

    async def line(self) -> bytes | None:
        """The next line of the body (without its newline), or None at its end."""
        while not self._lines:
            if self._ended:
                if self._error is not None:
                    raise self._error
                if self._buffer and self._status < 400:
                    raise ValueError("the runner's stream ended in the middle of a line")
                return None
            await self._wait()
        if self._paused and len(self._lines) <= _PAUSE_AT // 2 and self._transport:
            self._paused = False
            self._transport.resume_reading()
        return self._lines.popleft()

    async def body(self) -> bytes:
        """The whole body, once the runner has closed the connection (for errors)."""
        while not self._ended:
            await self._wait()
        return bytes(self._buffer)

    def send(self, data: bytes) -> None:
        assert self._transport is not None, "not connected"
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- inside ----------------------------------------------------------------------------
    async def _wait(self) -> None:
        if self._ended:
            if self._error is not None:
                raise self._error
            raise ConnectionResetError("the runner closed the connection before it answered")
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _too_long(self) -> None:
        self._fail(ValueError(f"the runner sent a line longer than {MAX_LINE} bytes"))

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._ended = True
        self._buffer.clear()
        if self._transport is not None:
            self._transport.close()
        self._wake()


async def open_completion(path: str, body: bytes) -> CompletionStream:
    """Connect to the runner listening on `path` and send a completion request with `body`.

    Raises:
        OSError: the runner's socket cannot be reached.
    """
    loop = asyncio.get_running_loop()
    _, stream = await loop.create_unix_connection(lambda: CompletionStream(loop), path)
    stream.send(
        b"POST /completion HTTP/1.0\r\nHost: runner\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    return stream

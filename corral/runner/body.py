"""How a completion's events get from the engine's worker thread into the response.

Until a response's headers are out, its events go to the event loop: the handler needs
`Started` or `Failed` to choose the status. Once the headers are out and the socket has
nothing buffered, the loop hands the body over to the worker, which writes each event's
chunk to the socket itself, just before the next `llama_decode`. A streamed token then
costs no wake-up of the loop and no trip through aiohttp: on a machine whose cores all
decode, that CPU time is llama.cpp's. A write the socket does not take whole hands the
body back: the rest, and every later event, goes through the loop again, which buffers
it and waits for the reader as aiohttp always does.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from corral import wirejson

from .events import Done, Event, Failed, Piece

__all__ = ["Bodies", "Relay", "Rest", "StreamedBody", "chunk", "ndjson"]


class Relay:
    """Runs callbacks from the worker thread on the event loop: one wake-up for each burst.

    The engine hands over a step's events together (one per generating sequence); each
    would otherwise cost the loop its own wake-up, and the worker a fight for the GIL.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: list[Callable[[], None]] = []

    def post(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the loop soon; safe from any thread."""
        with self._lock:
            self._pending.append(callback)
            if len(self._pending) > 1:
                return  # a delivery is already scheduled
        try:
            self._loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            pass

    def _deliver(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for callback in pending:
            callback()


@dataclass(frozen=True, slots=True)
class Rest:
    """The worker gave the body back: `data` (framed already) is still to be sent."""

    data: bytes
    finished: bool
    """The event that `data` ends with was the last one."""


def ndjson(event: Event) -> tuple[bytes, bool]:
    """An event's NDJSON line, and whether it ends the stream.

    A piece without logprobs is exactly `{"content":"..."}`: the daemon recognises that
    form and relays the text without parsing the line (`corral/daemon/runnerstream.py`).
    """
    if isinstance(event, Piece):
        if event.logprobs:
            line = {"content": event.content, "logprobs": list(event.logprobs)}
            return wirejson.dumps(line) + b"\n", False
        return b'{"content":' + wirejson.dumps(event.content) + b"}\n", False
    if isinstance(event, Done):
        return wirejson.dumps(event.to_json()) + b"\n", True
    if isinstance(event, Failed):
        return wirejson.dumps({"error": event.error.message}) + b"\n", True
    return b"", False  # Started comes only first, and has no line


def chunk(data: bytes) -> bytes:
    """`data` framed as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Bodies:
    """The response bodies of one runner: the relay they share, and counts of their writes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.relay = Relay(loop)
        self.written_by_worker = 0
        """Chunks the worker thread wrote to a socket itself."""
        self.handed_back = 0
        """Times a socket took less than a whole chunk and the loop took its body back."""

    def open(self) -> StreamedBody:
        return StreamedBody(self)


class StreamedBody:
    """One /completion response body, fed by the engine's worker thread through `sink`."""

    def __init__(self, bodies: Bodies) -> None:
        self._bodies = bodies
        self._lock = threading.Lock()
        self._queued: list[Event | Rest] = []
        self._fd: int | None = None
        """A duplicate of the socket's descriptor while the worker writes the body."""
        self._chunked = True
        self._ready = asyncio.Event()

    def sink(self, event: Event) -> None:
        """Write `event` to the socket, or queue it for the loop (worker thread)."""
        with self._lock:
            if self._fd is None:
                self._queue(event)
                return
            data, finished = ndjson(event)
            framed = chunk(data) if self._chunked else data
            try:
                sent = os.write(self._fd, framed)
            except OSError:  # would block, or the reader has gone: the loop finds out which
                sent = 0
            if sent == len(framed):
                self._bodies.written_by_worker += 1
                if not finished:
                    return
            else:
                self._bodies.handed_back += 1
            self._close()
            self._queue(Rest(framed[sent:], finished))

    def _queue(self, item: Event | Rest) -> None:
        self._queued.append(item)
        if len(self._queued) == 1:
            self._bodies.relay.post(self._ready.set)

    async def take(self) -> list[Event | Rest]:
        """Wait for what the loop has to send (at least one item), in order."""
        while True:
            with self._lock:
                items, self._queued = self._queued, []
                if items:
                    return items
                self._ready.clear()
            await self._ready.wait()

    def hand_over(self, transport: asyncio.Transport | None, *, chunked: bool) -> None:
        """Let the worker write the body from now on, when nothing is queued before it.

        Call it only after the headers and all earlier data were given to `transport`;
        `chunked` says whether the response frames its body as HTTP/1.1 chunks (else the
        body runs to the end of the connection, as HTTP/1.0 has it).
        """
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            return  # the reader is behind: the loop keeps waiting for it
        sock = transport.get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            if self._fd is None and not self._queued:
                self._fd = os.dup(sock.fileno())
                self._chunked = chunked

    def close(self) -> None:
        """Take the body back for good (the response is over, or was abandoned)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

"""NDJSON responses: stream events as they come, or gather them into one object.

Errors raised before the first event reach the error middleware and get a
proper status; once streaming has begun the status is already 200, so an error
ends the stream with an `{"error": ...}` line, as Ollama does.

Most of a native answer is plain text, one token a chunk, and a `PieceRelay` writes
those chunks to the client as the runner's lines arrive (`runnerstream.Forward`),
without a trip through the request's coroutines for each.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from aiohttp import HttpVersion11, web

from corral import wirejson
from corral.errors import CorralError

__all__ = ["STAMP", "TEXT", "PieceRelay", "now_rfc3339", "respond", "start_stream"]

logger = logging.getLogger(__name__)

Aggregate = Callable[[list[dict[str, Any]]], dict[str, Any]]


_CLIENT_BEHIND = 64 * 1024
"""Bytes waiting for the client at which a relay declines, so that the pieces go through
aiohttp's writer, which waits for the client (and the runner's socket is then paused)."""


def now_rfc3339() -> str:
    """Go's RFC3339Nano in UTC, as Ollama stamps `created_at` (microseconds here)."""
    return _stamp().decode()


def _stamp() -> bytes:
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    micros = nanos // 1000
    return b"%s.%06dZ" % (_utc_second(seconds), micros) if micros else _utc_second(seconds) + b"Z"


@functools.lru_cache(maxsize=1)
def _utc_second(seconds: int) -> bytes:
    """The part before the fraction; every streamed chunk asks, so the last one is kept."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode()


TEXT = "\x00text\x00"
"""Stands for a piece's text in the event a relay's frame is made from (see `PieceRelay`)."""
STAMP = "\x00stamp\x00"
"""Stands for `created_at` in that event: each relayed chunk is stamped as it is written."""


class PieceRelay:
    """Writes a piece of text to a streaming response as the chunk the usual path would.

    A `runnerstream.Forward`. `frame()` gives the route's own encoding of a chunk that
    carries only text, with `TEXT` for the text (and `STAMP` for `created_at`); it is
    asked once, when the first piece comes (the route's encoder has sent what goes
    first by then: a role, a block's start), and a relay that is never offered a piece
    never asks. Each piece is then written into the frame, byte for byte what the usual
    path would send. Before the responder's `start`, while the client is behind or gone,
    and for a frame without `TEXT`, it declines, and the piece goes the usual way.
    """

    def __init__(self, frame: Callable[[], bytes]) -> None:
        self._frame: Callable[[], bytes] | None = frame
        self._transport: asyncio.Transport | None = None
        self._chunked = False
        self._parts: tuple[bytes, bytes, bytes] | None = None
        """Before the stamp, between it and the text, after the text."""
        self._stamped = False

    def start(self, transport: asyncio.Transport | None, *, chunked: bool) -> None:
        """Write to `transport` from now on (the response's head and first chunk are out).

        `chunked` says whether the body is framed as HTTP/1.1 chunks (else it runs to the
        end of the connection, as HTTP/1.0 has it).
        """
        self._transport = transport
        self._chunked = chunked

    def __call__(self, text: bytes) -> bool:
        transport = self._transport
        if (
            transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size() >= _CLIENT_BEHIND
        ):
            return False
        if self._frame is not None:
            self._split(self._frame())
        if self._parts is None:
            return False
        head, middle, tail = self._parts
        if self._stamped:
            line = b"%s%s%s%s%s" % (head, _stamp(), middle, text, tail)
        else:
            line = b"%s%s%s" % (head, text, tail)
        transport.write(b"%x\r\n%s\r\n" % (len(line), line) if self._chunked else line)
        return True

    def _split(self, frame: bytes) -> None:
        self._frame = None
        before, hole, tail = frame.partition(wirejson.dumps(TEXT))
        if hole:
            head, stamp, middle = before.partition(wirejson.dumps(STAMP)[1:-1])
            self._parts = (head, middle, tail) if stamp else (before, b"", tail)
            self._stamped = bool(stamp)


async def start_stream(
    request: web.Request, headers: dict[str, str], first: bytes, relay: PieceRelay | None
) -> web.StreamResponse:
    """Send a streaming response's head and first chunk, then start `relay` on it."""
    response = web.StreamResponse(headers=headers)
    if request.version >= HttpVersion11:
        response.enable_chunked_encoding()  # as aiohttp would; the relay needs to know
    await response.prepare(request)
    await response.write(first)
    if relay is not None:
        relay.start(request.transport, chunked=response.chunked)
    return response


def _last(events: list[dict[str, Any]]) -> dict[str, Any]:
    return events[-1] if events else {}


def _line(event: dict[str, Any]) -> bytes:
    return wirejson.dumps(event) + b"\n"


async def respond(
    request: web.Request,
    events: AsyncGenerator[dict[str, Any], None],
    *,
    stream: bool,
    aggregate: Aggregate = _last,
    relay: PieceRelay | None = None,
) -> web.StreamResponse:
    """Send `events` as NDJSON when `stream`, else as one JSON object built by `aggregate`.

    `relay`, when given, is started once the first line is written (see `PieceRelay`).
    """
    if not stream:
        collected = [event async for event in events]
        return web.json_response(
            aggregate(collected), dumps=lambda v: json.dumps(v, ensure_ascii=False)
        )
    response: web.StreamResponse | None = None
    try:
        async for event in events:
            if response is None:
                headers = {"Content-Type": "application/x-ndjson"}
                response = await start_stream(request, headers, _line(event), relay)
                continue
            await response.write(_line(event))
    except CorralError as exc:
        if response is None:
            raise
        logger.warning("stream ended with error: %s", exc)
        await response.write(_line({"error": str(exc)}))
    finally:
        await events.aclose()
    if response is None:
        return web.json_response({})
    await response.write_eof()
    return response

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

__all__ = ["PieceRelay", "now_rfc3339", "respond"]

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


class PieceRelay:
    """Writes a piece of text to a streaming native response as the chunk it would be.

    A `runnerstream.Forward`: `respond` starts it once the response's first line is out;
    until then, and while the client is behind or gone, it declines, and the piece goes
    the usual way. The chunk is byte for byte what `wirejson.dumps` makes of the event
    `{"model", "created_at", "response" (or "message"), "done": false}`.
    """

    def __init__(self, model: str, *, chat: bool) -> None:
        self._head = b'{"model":' + wirejson.dumps(model) + b',"created_at":"'
        if chat:
            self._middle = b'","message":{"role":"assistant","content":'
            self._tail = b'},"done":false}\n'
        else:
            self._middle = b'","response":'
            self._tail = b',"done":false}\n'
        self._transport: asyncio.Transport | None = None
        self._chunked = False

    def start(self, transport: asyncio.Transport | None, *, chunked: bool) -> None:
        """Write to `transport` from now on: the response's head and first line are out.

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
        line = b"%s%s%s%s%s" % (self._head, _stamp(), self._middle, text, self._tail)
        transport.write(b"%x\r\n%s\r\n" % (len(line), line) if self._chunked else line)
        return True


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
                response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
                if request.version >= HttpVersion11:
                    response.enable_chunked_encoding()  # as aiohttp would; the relay asks
                await response.prepare(request)
                await response.write(_line(event))
                if relay is not None:
                    relay.start(request.transport, chunked=response.chunked)
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

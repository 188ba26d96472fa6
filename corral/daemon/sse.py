"""Server-sent events for the OpenAI and Anthropic streams.

Like the NDJSON responder, nothing is sent until the first event exists, so an
error raised before it reaches the error middleware with a proper status; once
the stream has begun, an error becomes one last event in the API's own shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from aiohttp import web

from corral import wirejson
from corral.daemon.streaming import PieceRelay, start_stream
from corral.errors import CorralError

__all__ = ["Event", "encode", "frame", "respond_sse"]

logger = logging.getLogger(__name__)

Event = tuple[str | None, dict[str, Any] | str]
"""An SSE event: its `event:` name (None for OpenAI's unnamed ones) and its data."""


_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
}


def encode(name: str | None, data: dict[str, Any] | str) -> bytes:
    """One event as it goes on the wire."""
    text = data.encode() if isinstance(data, str) else wirejson.dumps(data)
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + text + b"\n\n"


async def respond_sse(
    request: web.Request,
    events: AsyncGenerator[Event, None],
    *,
    on_error: Callable[[CorralError], Event],
    relay: PieceRelay | None = None,
) -> web.StreamResponse:
    """Send `events` as `text/event-stream`; `on_error` shapes a mid-stream failure.

    `relay`, when given, is started once the first event is written (see `PieceRelay`).
    """
    response: web.StreamResponse | None = None
    try:
        async for name, data in events:
            if response is None:
                response = await start_stream(request, _HEADERS, encode(name, data), relay)
                continue
            await response.write(encode(name, data))
    except CorralError as exc:
        if response is None:
            raise
        logger.warning("stream ended with error: %s", exc)
        await response.write(encode(*on_error(exc)))
    finally:
        await events.aclose()
    if response is None:
        return web.json_response({})
    await response.write_eof()
    return response


def frame(events: Sequence[Event]) -> bytes:
    """A relay's frame (see `PieceRelay`): the one event an encoder made of a text-only
    chunk, or nothing (no relay) when it made another number of events."""
    return encode(*events[0]) if len(events) == 1 else b""

"""NDJSON responses: stream events as they come, or gather them into one object.

Errors raised before the first event reach the error middleware and get a
proper status; once streaming has begun the status is already 200, so an error
ends the stream with an `{"error": ...}` line, as Ollama does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from aiohttp import web

from corral import wirejson
from corral.errors import CorralError

__all__ = ["respond"]

logger = logging.getLogger(__name__)

Aggregate = Callable[[list[dict[str, Any]]], dict[str, Any]]


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
) -> web.StreamResponse:
    """Send `events` as NDJSON when `stream`, else as one JSON object built by `aggregate`."""
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
                await response.prepare(request)
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

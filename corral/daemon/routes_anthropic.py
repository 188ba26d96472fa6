"""Anthropic-compatible routes: `POST /v1/messages` and `/v1/messages/count_tokens`.

Bodies are translated by `anthropic_wire` and run through the native chat
pipeline; count_tokens (which Ollama lacks) renders the template and counts with
the runner's own tokenizer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator

from aiohttp import web

from corral.api import ChatRequest, decode_body
from corral.daemon import anthropic_wire as wire
from corral.daemon.middleware import error_body
from corral.daemon.openai_wire import fold_events
from corral.daemon.routes_generate import chat_events
from corral.daemon.sse import Event, frame, respond_sse
from corral.daemon.state import STATE, DaemonState
from corral.daemon.streaming import TEXT, PieceRelay
from corral.daemon.tokens import count_chat_tokens
from corral.errors import CorralError

__all__ = ["count_tokens", "messages"]


def _stream_error(exc: CorralError) -> Event:
    return "error", error_body("anthropic", exc.status, str(exc), exc.code)


async def _relax_thinking(state: DaemonState, req: ChatRequest) -> ChatRequest:
    """A thinking request to a model that cannot think is dropped, as Ollama does here."""
    if not req.think:
        return req
    facts = await state.facts(req.model)
    if "thinking" in facts.capabilities():
        return req
    return dataclasses.replace(req, think=None)


async def messages(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    req = wire.messages_request(decode_body(await request.read()))
    native = await _relax_thinking(state, req.native)
    stream = wire.MessageStream(model=native.model)
    relay = None
    if req.stream:
        text_event = {"message": {"content": TEXT}}
        relay = PieceRelay(lambda: frame(stream.feed(text_event)))
    plan = await chat_events(state, native, relay=relay)
    if not req.stream:
        folded = fold_events([e async for e in plan.events], field="message")
        body = wire.message_response(folded, id_=wire.new_message_id(), model=native.model)
        if "_debug_info" in folded:  # `_debug_render_only`, as on the other APIs
            body["_debug_info"] = folded["_debug_info"]
        return web.json_response(body)

    async def events() -> AsyncGenerator[Event, None]:
        try:
            async for event in plan.events:
                for item in stream.feed(event):
                    yield item
        finally:
            await plan.events.aclose()

    return await respond_sse(request, events(), on_error=_stream_error, relay=relay)


async def count_tokens(request: web.Request) -> web.Response:
    state = request.app[STATE]
    req = wire.messages_request(decode_body(await request.read()), count_only=True)
    native = await _relax_thinking(state, req.native)
    return web.json_response({"input_tokens": await count_chat_tokens(state, native)})

"""OpenAI-compatible routes: `/v1/chat/completions`, `/v1/completions`, `/v1/models`.

Each handler translates the body with `openai_wire`, runs it through the native
pipeline (`chat_events` / `generate_events`) and translates the events back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

from aiohttp import web

from corral.api import decode_body
from corral.daemon import openai_wire as wire
from corral.daemon.middleware import error_body
from corral.daemon.routes_generate import Pipeline, chat_events, generate_events
from corral.daemon.sse import Event, frame, respond_sse
from corral.daemon.state import STATE
from corral.daemon.streaming import TEXT, PieceRelay
from corral.errors import CorralError, InvalidModelName, ModelNotFound
from corral.store import StoredModel

__all__ = ["chat_completions", "completions", "list_models", "retrieve_model"]


def _stream_error(exc: CorralError) -> Event:
    return None, error_body("openai", exc.status, str(exc), exc.code)


Feed = Callable[[Mapping[str, Any]], list[dict[str, Any]]]


def _relay(feed: Feed, text_event: dict[str, Any]) -> PieceRelay:
    """Relays pieces in the chunk `feed` makes of `text_event`, whose text is `TEXT`."""
    return PieceRelay(lambda: frame([(None, chunk) for chunk in feed(text_event)]))


async def _sse(
    request: web.Request, plan: Pipeline, feed: Feed, relay: PieceRelay | None
) -> web.StreamResponse:
    async def events() -> AsyncGenerator[Event, None]:
        try:
            async for event in plan.events:
                for chunk in feed(event):
                    yield None, chunk
            yield None, "[DONE]"
        finally:
            await plan.events.aclose()

    return await respond_sse(request, events(), on_error=_stream_error, relay=relay)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    req = wire.chat_request(decode_body(await request.read()))
    model = req.native.model
    stream = wire.ChatStream(
        model=model, include_usage=req.include_usage, logprobs=req.native.logprobs
    )
    relay = _relay(stream.feed, {"message": {"content": TEXT}}) if req.stream else None
    plan = await chat_events(request.app[STATE], req.native, relay=relay)
    if not req.stream:
        folded = wire.fold_events([e async for e in plan.events], field="message")
        body = wire.chat_response(
            folded, id_=wire.new_id("chatcmpl"), model=model, logprobs=req.native.logprobs
        )
        if "_debug_info" in folded:
            body["_debug_info"] = folded["_debug_info"]
        return web.json_response(body)
    return await _sse(request, plan, stream.feed, relay)


async def completions(request: web.Request) -> web.StreamResponse:
    req = wire.completion_request(decode_body(await request.read()))
    model = req.native.model
    echo = req.native.prompt if req.echo else ""
    stream = wire.CompletionStream(
        model=model,
        include_usage=req.include_usage,
        echo_prompt=echo,
        logprobs=req.logprobs is not None,
    )
    relay = _relay(stream.feed, {"response": TEXT}) if req.stream else None
    plan = await generate_events(request.app[STATE], req.native, relay=relay)
    if not req.stream:
        folded = wire.fold_events([e async for e in plan.events], field=None)
        body = wire.completion_response(
            folded,
            id_=wire.new_id("cmpl"),
            model=model,
            echo_prompt=echo,
            logprobs=req.logprobs is not None,
        )
        return web.json_response(body)
    return await _sse(request, plan, stream.feed, relay)


def _model_object(model: StoredModel) -> dict[str, Any]:
    return wire.model_object(
        model.name.display, model.modified_at.timestamp(), namespace=model.name.namespace
    )


async def list_models(request: web.Request) -> web.Response:
    models = await asyncio.to_thread(request.app[STATE].store.list)
    return web.json_response({"object": "list", "data": [_model_object(m) for m in models]})


async def retrieve_model(request: web.Request) -> web.Response:
    name = request.match_info["model"]
    try:
        model = await asyncio.to_thread(request.app[STATE].store.get, name)
    except (ModelNotFound, InvalidModelName):
        raise ModelNotFound(f'model "{name}" not found') from None
    return web.json_response(_model_object(model))

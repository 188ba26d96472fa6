"""`POST /api/generate` and `POST /api/chat`: the one generation path every API shares.

`generate_events` and `chat_events` validate a native request and plan its run;
the native handlers below and the OpenAI and Anthropic routes all go through them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from corral.api import (
    ChatRequest,
    GenerateRequest,
    decode_body,
    merge_options,
    parse_chat,
    parse_generate,
)
from corral.daemon.grammars import grammar_for_format
from corral.daemon.modelinfo import ModelFacts
from corral.daemon.prompts import render_chat, render_generate
from corral.daemon.state import STATE, DaemonState
from corral.daemon.streaming import respond
from corral.errors import InvalidRequest

__all__ = [
    "Pipeline",
    "chat",
    "chat_events",
    "generate",
    "generate_events",
    "now_rfc3339",
    "runner_payload",
]

_METRICS = ("prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration")


def now_rfc3339() -> str:
    """Go's RFC3339Nano in UTC, as Ollama stamps `created_at`."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def runner_payload(
    prompt: str,
    options: dict[str, Any],
    fmt: str | dict[str, Any] | None,
    *,
    shift: bool = True,
    truncate: bool = True,
) -> dict[str, Any]:
    """The runner's /completion body for a prompt, merged options and the context rules."""
    return {
        "prompt": prompt,
        "n_predict": options["num_predict"],
        "temperature": options["temperature"],
        "top_k": options["top_k"],
        "top_p": options["top_p"],
        "min_p": options["min_p"],
        "typical_p": options["typical_p"],
        "repeat_last_n": options["repeat_last_n"],
        "repeat_penalty": options["repeat_penalty"],
        "presence_penalty": options["presence_penalty"],
        "frequency_penalty": options["frequency_penalty"],
        "seed": options["seed"],
        "stop": options.get("stop", []),
        "num_keep": options["num_keep"],
        "grammar": grammar_for_format(fmt),
        "shift": shift,
        "truncate": truncate,
    }


def _empty_final(model: str, *, chat: bool, **extra: Any) -> dict[str, Any]:
    """A finished response with no text: for unloads and for `_debug_render_only`."""
    event: dict[str, Any] = {"model": model, "created_at": now_rfc3339()}
    if chat:
        event["message"] = {"role": "assistant", "content": ""}
    else:
        event["response"] = ""
    event["done"] = True
    event.update(extra)
    return event


async def _run(
    state: DaemonState,
    facts: ModelFacts,
    *,
    prompt: str | None,
    options: dict[str, Any],
    keep_alive: float | None,
    fmt: str | dict[str, Any] | None,
    started: int,
    chunk: Callable[[str], dict[str, Any]],
    want_context: bool = False,
    shift: bool = True,
    truncate: bool = True,
) -> AsyncGenerator[dict[str, Any], None]:
    """Acquire a runner, stream its pieces as chunks, and end with the metrics."""
    spec = state.spec_for(facts, options)
    async with state.scheduler.use(facts.display_name, spec, keep_alive=keep_alive) as runner:
        load_ns = time.monotonic_ns() - started
        final: dict[str, Any] = {}
        pieces: list[str] = []
        if prompt is None:
            final = {"done_reason": "load"}
        else:
            payload = runner_payload(prompt, options, fmt, shift=shift, truncate=truncate)
            async for item in runner.handle.completion(payload):
                if item.get("done"):
                    final = item
                    break
                piece = str(item.get("content", ""))
                if piece:
                    pieces.append(piece)
                    yield chunk(piece)
        last = chunk("")
        last["done"] = True
        last["done_reason"] = final.get("done_reason", "stop")
        if want_context and prompt is not None:
            last["context"] = await runner.handle.tokenize(prompt + "".join(pieces))
        last["total_duration"] = time.monotonic_ns() - started
        last["load_duration"] = load_ns
        for key in _METRICS:
            if final.get(key):
                last[key] = int(final[key])
        yield last


def _aggregate(field: str | None) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """Fold streamed chunks into one response, concatenating the text."""

    def fold(events: list[dict[str, Any]]) -> dict[str, Any]:
        result = dict(events[-1])
        if field is None:
            result["response"] = "".join(e.get("response", "") for e in events)
        else:
            message = dict(result.get(field, {}))
            message["content"] = "".join(e.get(field, {}).get("content", "") for e in events)
            result[field] = message
        return result

    return fold


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A planned generation: its native events, and whether they are one finished answer.

    `immediate` marks the answers Ollama sends as one JSON object whatever `stream`
    says (an unload, a `_debug_render_only` render).
    """

    events: AsyncGenerator[dict[str, Any], None]
    immediate: bool = False


async def _single(event: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
    yield event


async def generate_events(
    state: DaemonState, req: GenerateRequest, *, started: int | None = None
) -> Pipeline:
    """Validate a generate request and plan its run; a bad request fails here, before any event.

    The native route and the compatible APIs (`/v1/completions`) share this path.
    """
    started = time.monotonic_ns() if started is None else started
    if not req.model:
        raise InvalidRequest("model is required")
    facts = await state.facts(req.model)
    if not req.prompt and req.keep_alive == 0:
        await state.scheduler.unload(str(facts.model.model_path))
        return Pipeline(
            _single(_empty_final(req.model, chat=False, done_reason="unload")), immediate=True
        )
    facts.require("completion", "generate")
    if req.suffix:
        facts.require("insert", "insert")
    options = merge_options(facts.model.params, req.options)
    prompt = await asyncio.to_thread(render_generate, facts, req) if req.prompt or req.raw else None
    if req.debug_render_only:
        debug = {"rendered_template": prompt or "", "image_count": len(req.images)}
        return Pipeline(
            _single(_empty_final(req.model, chat=False, _debug_info=debug)), immediate=True
        )

    def chunk(text: str) -> dict[str, Any]:
        return {"model": req.model, "created_at": now_rfc3339(), "response": text, "done": False}

    events = _run(
        state,
        facts,
        prompt=prompt,
        options=options,
        keep_alive=req.keep_alive,
        fmt=req.format,
        started=started,
        chunk=chunk,
        want_context=not req.raw,
        shift=req.shift,
        truncate=req.truncate,
    )
    return Pipeline(events)


async def chat_events(
    state: DaemonState, req: ChatRequest, *, started: int | None = None
) -> Pipeline:
    """Validate a chat request and plan its run; a bad request fails here, before any event.

    The native route and the compatible APIs (`/v1/chat/completions`, `/v1/messages`)
    share this path.
    """
    started = time.monotonic_ns() if started is None else started
    facts = await state.facts(req.model)
    if not req.messages and req.keep_alive == 0:
        await state.scheduler.unload(str(facts.model.model_path))
        return Pipeline(
            _single(_empty_final(req.model, chat=True, done_reason="unload")), immediate=True
        )
    facts.require("completion", "chat")
    if req.tools:
        facts.require("tools", "tools")
    options = merge_options(facts.model.params, req.options)
    prompt = await asyncio.to_thread(render_chat, facts, req) if req.messages else None
    if req.debug_render_only:
        debug = {"rendered_template": prompt or "", "image_count": 0}
        return Pipeline(
            _single(_empty_final(req.model, chat=True, _debug_info=debug)), immediate=True
        )

    def chunk(text: str) -> dict[str, Any]:
        return {
            "model": req.model,
            "created_at": now_rfc3339(),
            "message": {"role": "assistant", "content": text},
            "done": False,
        }

    events = _run(
        state,
        facts,
        prompt=prompt,
        options=options,
        keep_alive=req.keep_alive,
        fmt=req.format,
        started=started,
        chunk=chunk,
        shift=req.shift,
        truncate=req.truncate,
    )
    return Pipeline(events)


async def _respond(
    request: web.Request, plan: Pipeline, *, stream: bool, field: str | None
) -> web.StreamResponse:
    if plan.immediate:
        events = [event async for event in plan.events]
        return web.json_response(events[-1])
    return await respond(request, plan.events, stream=stream, aggregate=_aggregate(field))


async def generate(request: web.Request) -> web.StreamResponse:
    started = time.monotonic_ns()
    req = parse_generate(decode_body(await request.read()))
    plan = await generate_events(request.app[STATE], req, started=started)
    return await _respond(request, plan, stream=req.stream, field=None)


async def chat(request: web.Request) -> web.StreamResponse:
    started = time.monotonic_ns()
    req = parse_chat(decode_body(await request.read()))
    plan = await chat_events(request.app[STATE], req, started=started)
    return await _respond(request, plan, stream=req.stream, field="message")

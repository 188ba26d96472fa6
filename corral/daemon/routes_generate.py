"""`POST /api/generate` and `POST /api/chat` over one shared pipeline.

`prepare_chat` / `prepare_generate` check everything a request asks for (capabilities,
`format` schema, `think`, `images`, logprobs) and render its prompt, so that a bad request
fails with 400 before any runner is touched; `run` then streams `Part`s: content,
thinking, tool calls and logprobs as the model produces them, ending with one whose
`done` is set. `chat_events` / `generate_events` wrap the two as a `Pipeline` of native
chunks (unloads and `_debug_render_only` included): the native handlers send those chunks,
and the OpenAI and Anthropic routes translate the same chunks into their wire formats.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from corral import wirejson
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
from corral.daemon.outputs import OutputParser
from corral.daemon.prompts import render_chat, render_generate
from corral.daemon.runnerstream import Forward
from corral.daemon.state import STATE, DaemonState
from corral.daemon.streaming import STAMP, TEXT, PieceRelay, now_rfc3339, respond
from corral.daemon.toolcalls import tool_call_tag
from corral.errors import InvalidRequest, UnsupportedCapability
from corral.template import thinking_tags

__all__ = [
    "Part",
    "Pipeline",
    "Prepared",
    "chat",
    "chat_events",
    "generate",
    "generate_events",
    "prepare_chat",
    "prepare_generate",
    "run",
    "runner_payload",
]

_METRICS = ("prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration")
_DEFAULT_THINK_TAGS = ("<think>", "</think>")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked request, ready to run: the prompt and everything the runner and parser need."""

    model: str
    """The model name as the request spelled it (echoed back in responses)."""
    facts: ModelFacts
    prompt: str | None
    """None only loads the model (an empty prompt or no messages)."""
    options: dict[str, Any]
    keep_alive: float | None
    grammar: str | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    think_tags: tuple[str, str] | None = None
    """Thinking tags to split off, or None when thinking is off."""
    tool_tag: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    prefill: str = ""
    """The last message's content when it is an assistant turn the model continues."""
    want_context: bool = False
    images: tuple[str, ...] = ()
    """Base64 pictures in the order of the prompt's `[img-N]` markers."""
    shift: bool = True
    """Shift the context when it fills up (else stop with "length")."""
    truncate: bool = True
    """Cut a prompt longer than the context (else fail with 400)."""


@dataclass(slots=True)
class Part:
    """One step of a running answer; the last has `done` set and carries the metrics."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    done_reason: str | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    context: list[int] | None = None


def runner_payload(
    prompt: str,
    options: dict[str, Any],
    grammar: str | None,
    *,
    logprobs: bool = False,
    top_logprobs: int = 0,
    shift: bool = True,
    truncate: bool = True,
    images: Sequence[str] = (),
) -> dict[str, Any]:
    """The runner's /completion body for a prompt, merged options and the context rules.

    `images` (base64) travel beside the prompt; its `[img-N]` markers say where each goes.
    """
    payload = {
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
        "grammar": grammar,
        "shift": shift,
        "truncate": truncate,
    }
    if logprobs or top_logprobs:
        payload["logprobs"] = True
        payload["top_logprobs"] = top_logprobs
    if images:
        payload["images"] = list(images)
    return payload


# -- checks shared by chat and generate ------------------------------------------------------
def check_images(facts: ModelFacts, images: Sequence[str], where: str) -> int:
    """Validate base64 images and that the model can see; returns how many there are.

    Raises:
        InvalidRequest: an image is not base64 or not a JPEG, PNG or WebP picture.
        UnsupportedCapability: the model has no vision projector.
    """
    for index, image in enumerate(images):
        try:
            data = base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"invalid image data in {where}[{index}]: not base64") from None
        if not _is_picture(data):
            raise InvalidRequest(
                f"invalid image data in {where}[{index}]: expected a JPEG, PNG or WebP image"
            )
    if images:
        facts.require("vision", "images")
    return len(images)


def _is_picture(data: bytes) -> bool:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))


def _think_tags(facts: ModelFacts, think: bool | str | None, model: str) -> tuple[str, str] | None:
    """The thinking tags to parse, or None; refuses `think` for a model that cannot think."""
    capable = "thinking" in facts.capabilities()
    if not capable:
        if think:
            raise UnsupportedCapability(f'"{model}" does not support thinking')
        return None
    if think is False:
        return None
    template = facts.model.template
    if template is not None:
        tags = thinking_tags(template)
        if tags[0] and tags[1]:
            return tags
    return _DEFAULT_THINK_TAGS


def _effective_think(facts: ModelFacts, think: bool | str | None) -> bool | str | None:
    """Ollama turns thinking on by default for a model that supports it."""
    if think is None and "thinking" in facts.capabilities():
        return True
    return think


async def prepare_chat(state: DaemonState, req: ChatRequest) -> Prepared:
    """Check a chat request and render its prompt (the model must already be known to exist).

    Raises:
        InvalidRequest, UnsupportedCapability, ModelNotFound: before anything is loaded.
    """
    facts = await state.facts(req.model)
    facts.require("completion", "chat")
    if req.tools:
        facts.require("tools", "tools")
    grammar = grammar_for_format(req.format)
    tags = _think_tags(facts, req.think, req.model)
    for index, message in enumerate(req.messages):
        check_images(facts, message.images, f"messages[{index}].images")
    think = _effective_think(facts, req.think)
    if think != req.think:
        req = _replace_think(req, think)
    prompt: str | None = None
    images: list[str] = []
    if req.messages:
        prompt, images = await asyncio.to_thread(render_chat, facts, req)
    tool_tag = None
    if req.tools:
        tool_tag = tool_call_tag(
            facts.model.template, facts.gguf.chat_template if facts.gguf else None
        )
    last = req.messages[-1] if req.messages else None
    return Prepared(
        model=req.model,
        facts=facts,
        prompt=prompt,
        options=merge_options(facts.model.params, req.options),
        keep_alive=req.keep_alive,
        grammar=grammar,
        logprobs=req.logprobs,
        top_logprobs=req.top_logprobs,
        think_tags=tags,
        tool_tag=tool_tag,
        tools=req.tools,
        prefill=last.content if last is not None and last.role == "assistant" else "",
        images=tuple(images),
        shift=req.shift,
        truncate=req.truncate,
    )


async def prepare_generate(state: DaemonState, req: GenerateRequest) -> Prepared:
    """Check a generate request and render its prompt (see `prepare_chat`)."""
    facts = await state.facts(req.model)
    facts.require("completion", "generate")
    if req.suffix:
        facts.require("insert", "insert")
    grammar = grammar_for_format(req.format)
    tags = None if req.raw else _think_tags(facts, req.think, req.model)
    check_images(facts, req.images, "images")
    think = _effective_think(facts, req.think)
    if think != req.think:
        req = _replace_think(req, think)
    prompt: str | None = None
    images: list[str] = []
    if req.prompt or req.raw:
        prompt, images = await asyncio.to_thread(render_generate, facts, req)
    return Prepared(
        model=req.model,
        facts=facts,
        prompt=prompt,
        options=merge_options(facts.model.params, req.options),
        keep_alive=req.keep_alive,
        grammar=grammar,
        logprobs=req.logprobs,
        top_logprobs=req.top_logprobs,
        think_tags=tags,
        want_context=not req.raw,
        images=tuple(images),
        shift=req.shift,
        truncate=req.truncate,
    )


def _replace_think(req: Any, think: bool | str | None) -> Any:
    return dataclasses.replace(req, think=think)


async def run(
    state: DaemonState, job: Prepared, *, started: int, relay: PieceRelay | None = None
) -> AsyncGenerator[Part, None]:
    """Acquire a runner and stream the answer as parts; the last one has `done` set.

    With a `relay`, plain text the parser would pass through unchanged goes to it
    instead, when it takes it, and the parts carry the rest.
    """
    spec = state.spec_for(job.facts, job.options)
    async with state.scheduler.use(job.facts.display_name, spec, keep_alive=job.keep_alive) as r:
        load_ns = time.monotonic_ns() - started
        final: dict[str, Any] = {}
        pieces: list[str] = []
        if job.prompt is None:
            final = {"done_reason": "load"}
        else:
            started_inside = bool(
                job.think_tags and job.prompt.rstrip().endswith(job.think_tags[0])
            )
            parser = OutputParser(
                think_tags=job.think_tags,
                think_started=started_inside,
                tool_tag=job.tool_tag,
                tools=job.tools,
                prefill=job.prefill,
            )
            payload = runner_payload(
                job.prompt,
                job.options,
                job.grammar,
                logprobs=job.logprobs,
                top_logprobs=job.top_logprobs,
                shift=job.shift,
                truncate=job.truncate,
                images=job.images,
            )
            forward: Forward | None = None
            if relay is not None and parser.passthrough and "logprobs" not in payload:
                forward = _collecting(relay, pieces) if job.want_context else relay

            async for item in r.handle.completion(payload, forward=forward):
                if item.get("done"):
                    final = item
                    break
                piece = str(item.get("content", ""))
                logprobs = list(item.get("logprobs") or [])
                if piece:
                    pieces.append(piece)
                delta = parser.feed(piece)
                if delta.content or delta.thinking or delta.tool_calls or logprobs:
                    yield Part(
                        content=delta.content,
                        thinking=delta.thinking,
                        tool_calls=delta.tool_calls,
                        logprobs=logprobs,
                    )
            delta = parser.finish()
            if delta.content or delta.thinking or delta.tool_calls:
                yield Part(
                    content=delta.content, thinking=delta.thinking, tool_calls=delta.tool_calls
                )
        last = Part(done=True, done_reason=str(final.get("done_reason", "stop")))
        if job.want_context and job.prompt is not None:
            last.context = await r.handle.tokenize(job.prompt + "".join(pieces))
        last.metrics["total_duration"] = time.monotonic_ns() - started
        last.metrics["load_duration"] = load_ns
        for key in _METRICS:
            if final.get(key):
                last.metrics[key] = int(final[key])
        yield last


def _collecting(relay: Forward, pieces: list[str]) -> Forward:
    """`relay`, keeping the text of each piece it takes in `pieces` (for `context`)."""

    def forward(text: bytes) -> bool:
        if not relay(text):
            return False
        pieces.append(wirejson.loads(text))
        return True

    return forward


# -- the native handlers ----------------------------------------------------------------------
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


def _native_chunk(model: str, part: Part, *, chat: bool) -> dict[str, Any]:
    event: dict[str, Any] = {"model": model, "created_at": now_rfc3339()}
    if chat:
        message: dict[str, Any] = {"role": "assistant", "content": part.content}
        if part.thinking:
            message["thinking"] = part.thinking
        if part.tool_calls:
            message["tool_calls"] = part.tool_calls
        event["message"] = message
    else:
        event["response"] = part.content
        if part.thinking:
            event["thinking"] = part.thinking
    event["done"] = part.done
    if part.done:
        event["done_reason"] = part.done_reason
        if part.context is not None:
            event["context"] = part.context
        event.update(part.metrics)
    if part.logprobs:
        event["logprobs"] = part.logprobs
    return event


async def _native_events(
    state: DaemonState, job: Prepared, *, started: int, chat: bool, relay: PieceRelay | None
) -> AsyncGenerator[dict[str, Any], None]:
    parts = run(state, job, started=started, relay=relay)
    try:
        async for part in parts:
            yield _native_chunk(job.model, part, chat=chat)
    finally:
        await parts.aclose()


def _aggregate(chat: bool) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """Fold streamed chunks into one response, concatenating text, thinking and logprobs."""

    def fold(events: list[dict[str, Any]]) -> dict[str, Any]:
        result = dict(events[-1])
        logprobs = [lp for e in events for lp in e.get("logprobs", [])]
        if chat:
            messages = [e.get("message", {}) for e in events]
            message = dict(result.get("message", {}))
            message["content"] = "".join(m.get("content", "") for m in messages)
            thinking = "".join(m.get("thinking", "") for m in messages)
            calls = [c for m in messages for c in m.get("tool_calls", [])]
            if thinking:
                message["thinking"] = thinking
            if calls:
                message["tool_calls"] = calls
            result["message"] = message
        else:
            result["response"] = "".join(e.get("response", "") for e in events)
            thinking = "".join(e.get("thinking", "") for e in events)
            if thinking:
                result["thinking"] = thinking
        if logprobs:
            result["logprobs"] = logprobs
        return result

    return fold


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A planned generation: its native chunks, and whether they are one finished answer.

    `immediate` marks the answers Ollama sends as one JSON object whatever `stream`
    says (an unload, a `_debug_render_only` render). `prepared` is the checked request
    (None for an unload).
    """

    events: AsyncGenerator[dict[str, Any], None]
    immediate: bool = False
    prepared: Prepared | None = None


async def _single(event: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
    yield event


async def generate_events(
    state: DaemonState,
    req: GenerateRequest,
    *,
    started: int | None = None,
    relay: PieceRelay | None = None,
) -> Pipeline:
    """Check a generate request and plan its run; a bad request fails here, before any event.

    The native route and `/v1/completions` share this path; the native route's `relay`
    writes its plain text (see `run`).
    """
    return await _plan(state, req, started=started, relay=relay)


async def chat_events(
    state: DaemonState,
    req: ChatRequest,
    *,
    started: int | None = None,
    relay: PieceRelay | None = None,
) -> Pipeline:
    """Check a chat request and plan its run; a bad request fails here, before any event.

    The native route, `/v1/chat/completions` and `/v1/messages` share this path (see
    `generate_events` for `relay`).
    """
    return await _plan(state, req, started=started, relay=relay)


async def _plan(
    state: DaemonState,
    req: ChatRequest | GenerateRequest,
    *,
    started: int | None,
    relay: PieceRelay | None,
) -> Pipeline:
    started = time.monotonic_ns() if started is None else started
    chat = isinstance(req, ChatRequest)
    if not req.model:
        raise InvalidRequest("model is required")
    empty = not req.messages if isinstance(req, ChatRequest) else not req.prompt
    if empty and req.keep_alive == 0:
        facts = await state.facts(req.model)
        await state.scheduler.unload(str(facts.model.model_path))
        final = _empty_final(req.model, chat=chat, done_reason="unload")
        return Pipeline(_single(final), immediate=True)
    if isinstance(req, ChatRequest):
        job = await prepare_chat(state, req)
    else:
        job = await prepare_generate(state, req)
    if req.debug_render_only:
        debug = {"rendered_template": job.prompt or "", "image_count": len(job.images)}
        final = _empty_final(req.model, chat=chat, _debug_info=debug)
        return Pipeline(_single(final), immediate=True, prepared=job)
    events = _native_events(state, job, started=started, chat=chat, relay=relay)
    return Pipeline(events, prepared=job)


async def _respond(
    request: web.Request,
    plan: Pipeline,
    *,
    stream: bool,
    chat: bool,
    relay: PieceRelay | None,
) -> web.StreamResponse:
    if plan.immediate:
        events = [event async for event in plan.events]
        return web.json_response(events[-1])
    return await respond(
        request, plan.events, stream=stream, aggregate=_aggregate(chat), relay=relay
    )


def _native_relay(model: str, *, chat: bool) -> PieceRelay:
    def frame() -> bytes:
        event = _native_chunk(model, Part(content=TEXT), chat=chat)
        event["created_at"] = STAMP
        return wirejson.dumps(event) + b"\n"

    return PieceRelay(frame)


async def generate(request: web.Request) -> web.StreamResponse:
    started = time.monotonic_ns()
    req = parse_generate(decode_body(await request.read()))
    relay = _native_relay(req.model, chat=False) if req.stream else None
    plan = await generate_events(request.app[STATE], req, started=started, relay=relay)
    return await _respond(request, plan, stream=req.stream, chat=False, relay=relay)


async def chat(request: web.Request) -> web.StreamResponse:
    started = time.monotonic_ns()
    req = parse_chat(decode_body(await request.read()))
    relay = _native_relay(req.model, chat=True) if req.stream else None
    plan = await chat_events(request.app[STATE], req, started=started, relay=relay)
    return await _respond(request, plan, stream=req.stream, chat=True, relay=relay)

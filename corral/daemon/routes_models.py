"""Model management routes: tags, show, copy, delete, blobs, create, pull, ps, version."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from corral import __version__
from corral.api import (
    decode_body,
    parse_copy,
    parse_create,
    parse_model_request,
    parse_pull,
    parse_show,
)
from corral.daemon.create import create_model
from corral.daemon.modelinfo import ModelFacts
from corral.daemon.state import STATE
from corral.daemon.streaming import respond
from corral.daemon.transfers import pull_events, push_events
from corral.errors import CorralError, InvalidModelName, InvalidRequest, ModelNotFound, NotFound
from corral.gguf import model_info
from corral.modelfile import render_show_modelfile
from corral.names import ModelName
from corral.store import StoredModel
from corral.store.digests import parse_digest

__all__ = [
    "blob_exists",
    "blob_upload",
    "copy",
    "create",
    "delete",
    "ps",
    "pull",
    "push",
    "root",
    "show",
    "tags",
    "version",
]

# Go's zero-padded "forever": Ollama reports a keep-alive of -1 this far ahead.
_FOREVER = timedelta(days=365 * 292)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def root(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": __version__})


def _tag_entry(facts: ModelFacts) -> dict[str, Any]:
    model = facts.model
    return {
        "name": model.name.display,
        "model": model.name.display,
        "modified_at": _iso(model.modified_at),
        "size": model.size,
        "digest": model.digest,
        "details": facts.details(),
    }


async def tags(request: web.Request) -> web.Response:
    state = request.app[STATE]
    models = await asyncio.to_thread(state.store.list)
    entries = []
    for model in models:
        try:
            entries.append(_tag_entry(await state.infos.facts(model)))
        except CorralError:
            entries.append(_tag_entry(ModelFacts(model, None)))
    return web.json_response({"models": entries})


def _go_value(value: Any) -> str:
    """Go's `%#v` for the parameter values Ollama shows."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def format_parameters(params: dict[str, Any]) -> str:
    lines = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<30} {_go_value(item)}")
    return "\n".join(lines)


def _modelfile(model: StoredModel) -> str:
    return render_show_modelfile(
        from_=str(model.model_path) if model.model_path else model.name.display,
        template=model.template,
        system=model.system,
        parameters=model.params,
        messages=model.messages,
        licenses=list(model.license),
        adapters=[str(p) for p in model.adapters],
    )


async def show(request: web.Request) -> web.Response:
    state = request.app[STATE]
    req = parse_show(decode_body(await request.read()))
    if not req.model:
        raise InvalidRequest("model is required")
    try:
        model = await asyncio.to_thread(state.store.get, req.model)
    except ModelNotFound:
        raise ModelNotFound(f"model '{req.model}' not found") from None
    facts = await state.infos.facts(model)
    template = model.template
    if template is None and facts.gguf is not None:
        template = facts.gguf.chat_template
    body: dict[str, Any] = {
        "license": "\n".join(model.license),
        "modelfile": _modelfile(model),
        "parameters": format_parameters(model.params),
        "template": template or "",
        "system": req.system if req.system is not None else (model.system or ""),
        "details": facts.details(),
        "messages": model.messages,
        "model_info": (
            await asyncio.to_thread(model_info, facts.gguf, verbose=req.verbose)
            if facts.gguf
            else {}
        ),
        "capabilities": facts.capabilities(),
        "modified_at": _iso(model.modified_at),
    }
    if facts.gguf is not None:
        tensors = facts.gguf.tensors if req.verbose else facts.gguf.tensors[:0]
        body["tensors"] = [
            {"name": t.name, "type": t.type_name, "shape": list(t.shape)} for t in tensors
        ]
    return web.json_response(body)


async def copy(request: web.Request) -> web.Response:
    state = request.app[STATE]
    req = parse_copy(decode_body(await request.read()))
    for label, value in (("source", req.source), ("destination", req.destination)):
        try:
            ModelName.parse(value)
        except InvalidModelName:
            raise InvalidModelName(f'{label} "{value}" is invalid') from None
    async with state.store_lock:
        try:
            await asyncio.to_thread(state.store.copy, req.source, req.destination)
        except ModelNotFound:
            raise ModelNotFound(f'model "{req.source}" not found') from None
    return web.Response()


async def delete(request: web.Request) -> web.Response:
    state = request.app[STATE]
    req = parse_model_request(decode_body(await request.read()))
    try:
        ModelName.parse(req.model)
    except InvalidModelName:
        raise InvalidModelName(f'name "{req.model}" is invalid') from None
    try:
        model = await asyncio.to_thread(state.store.get, req.model)
    except ModelNotFound:
        raise ModelNotFound(f"model '{req.model}' not found") from None
    if model.model_path is not None:
        await state.scheduler.unload(str(model.model_path))
    async with state.store_lock:
        await asyncio.to_thread(state.store.delete, req.model, prune=not state.settings.no_prune)
    return web.Response()


async def blob_exists(request: web.Request) -> web.Response:
    state = request.app[STATE]
    digest = parse_digest(request.match_info["digest"])
    if await asyncio.to_thread(state.store.blobs.exists, digest):
        return web.Response()
    raise NotFound(f'blob "{digest}" not found')


_END = object()


def _drain(chunks: queue.Queue[object]) -> Iterator[bytes]:
    while True:
        item = chunks.get()
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, bytes)
        yield item


async def blob_upload(request: web.Request) -> web.Response:
    """Stream a request body into the blob store, checking it hashes to the URL's digest."""
    state = request.app[STATE]
    digest = parse_digest(request.match_info["digest"])
    if await asyncio.to_thread(state.store.blobs.exists, digest):
        return web.Response()
    chunks: queue.Queue[object] = queue.Queue(maxsize=16)
    writer = asyncio.ensure_future(
        asyncio.to_thread(state.store.blobs.write, _drain(chunks), expected=digest)
    )
    try:
        async for chunk in request.content.iter_chunked(1 << 20):
            await asyncio.to_thread(chunks.put, chunk)
        await asyncio.to_thread(chunks.put, _END)
    except BaseException as exc:
        # The client went away: make the writer discard its temp file.
        with contextlib.suppress(Exception):
            chunks.put_nowait(ConnectionAbortedError(f"upload of {digest} interrupted: {exc}"))
        with contextlib.suppress(BaseException):
            await writer
        raise
    await writer
    return web.Response(status=201)


async def create(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    req = parse_create(decode_body(await request.read()))
    if not req.model:
        raise InvalidRequest("model is required")
    return await respond(request, create_model(state, req), stream=req.stream)


async def pull(request: web.Request) -> web.StreamResponse:
    req = parse_pull(decode_body(await request.read()))
    if not req.model:
        raise InvalidRequest("model is required")
    ModelName.parse(req.model)
    events = pull_events(request.app[STATE], req.model, insecure=req.insecure)
    return await respond(request, events, stream=req.stream)


async def push(request: web.Request) -> web.StreamResponse:
    req = parse_pull(decode_body(await request.read()))
    if not req.model:
        raise InvalidRequest("model is required")
    ModelName.parse(req.model)
    events = push_events(request.app[STATE], req.model, insecure=req.insecure)
    return await respond(request, events, stream=req.stream)


def _expires(expires_at: float | None, keep_alive: float) -> str:
    if expires_at is None:
        if math.isinf(keep_alive):
            return _iso(datetime.now(UTC).astimezone() + _FOREVER)
        return _iso((datetime.now(UTC) + timedelta(seconds=keep_alive)).astimezone())
    return _iso(datetime.fromtimestamp(expires_at, UTC).astimezone())


async def ps(request: web.Request) -> web.Response:
    state = request.app[STATE]
    entries = []
    for runner in state.scheduler.running():
        try:
            facts = await state.facts(runner.name)
            digest, details = facts.model.digest, facts.details()
        except CorralError:
            digest, details = "", {}
        entries.append(
            {
                "name": runner.name,
                "model": runner.name,
                "size": runner.size,
                "digest": digest,
                "details": details,
                "expires_at": _expires(runner.expires_at, runner.keep_alive),
                "size_vram": runner.size_vram,
                "context_length": runner.spec.num_ctx,
                "num_parallel": runner.spec.num_parallel,
                "active_requests": runner.active,
                "queue_depth": runner.waiting,
            }
        )
    entries.sort(key=lambda e: str(e["expires_at"]), reverse=True)
    return web.json_response({"models": entries})

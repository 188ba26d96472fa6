"""Embeddings: `POST /api/embed`, the legacy `POST /api/embeddings`, and OpenAI's `/v1/embeddings`.

All three run on an embedding runner (`--embedding`): a model's own pooling from its GGUF
metadata, or mean pooling of a generative model's hidden states. Inputs of one request go
to the runner in one `/embedding` call. `/api/embed` L2-normalises every vector (and again
after cutting it to `dimensions`); the legacy route returns the raw pooled vector.
"""

from __future__ import annotations

import base64
import math
import struct
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from corral.api import Fields, decode_body, merge_options
from corral.daemon.state import STATE, DaemonState
from corral.durations import parse_keep_alive
from corral.errors import CorralError, InvalidRequest, RunnerError

__all__ = ["embed", "embeddings", "normalize", "openai_embeddings", "openai_error"]


def normalize(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to unit L2 length (a zero vector stays zero).

    Raises:
        RunnerError: the vector holds NaN or infinity.
    """
    if not all(math.isfinite(x) for x in vector):
        raise RunnerError("embedding contains NaN or Inf values")
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else list(vector)


def _keep_alive(f: Fields) -> float | None:
    value = f.raw("keep_alive")
    if value is None:
        return None
    try:
        return parse_keep_alive(value)
    except ValueError as exc:
        raise InvalidRequest(f'invalid value for "keep_alive": {exc}') from None


def _inputs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidRequest("invalid input type: input must be a string or an array of strings")


async def _embed_raw(
    state: DaemonState,
    model: str,
    texts: Sequence[str],
    *,
    options: dict[str, Any],
    keep_alive: float | None,
    truncate: bool,
    started: int,
) -> tuple[list[list[float]], int, int]:
    """Vectors, prompt token count and load time in ns; an empty `texts` only loads."""
    facts = await state.facts(model)
    merged = merge_options(facts.model.params, options)
    spec = state.spec_for(facts, merged, embedding=True)
    async with state.scheduler.use(facts.display_name, spec, keep_alive=keep_alive) as runner:
        load_ns = time.monotonic_ns() - started
        if not texts:
            return [], 0, load_ns
        data = await runner.handle.embed(texts, truncate=truncate)
    vectors = [[float(x) for x in v] for v in data.get("embeddings", [])]
    return vectors, int(data.get("prompt_eval_count", 0)), load_ns


def _cut(vectors: list[list[float]], dimensions: int) -> list[list[float]]:
    out = []
    for vector in vectors:
        vector = normalize(vector)
        if 0 < dimensions < len(vector):
            vector = normalize(vector[:dimensions])
        out.append(vector)
    return out


async def embed(request: web.Request) -> web.Response:
    """`POST /api/embed`: a string or list in, L2-normalised vectors out."""
    started = time.monotonic_ns()
    state = request.app[STATE]
    f = Fields(decode_body(await request.read()))
    model = f.string("model")
    if not model:
        raise InvalidRequest("model is required")
    texts = _inputs(f.raw("input"))
    dimensions = f.integer("dimensions", 0, minimum=0)
    vectors, count, load_ns = await _embed_raw(
        state,
        model,
        texts,
        options=f.object("options"),
        keep_alive=_keep_alive(f),
        truncate=f.boolean("truncate", True),
        started=started,
    )
    body: dict[str, Any] = {"model": model, "embeddings": _cut(vectors, dimensions)}
    body["total_duration"] = time.monotonic_ns() - started
    body["load_duration"] = load_ns
    if count:
        body["prompt_eval_count"] = count
    return web.json_response(body)


async def embeddings(request: web.Request) -> web.Response:
    """`POST /api/embeddings` (legacy): one prompt, the raw (not normalised) vector."""
    started = time.monotonic_ns()
    state = request.app[STATE]
    f = Fields(decode_body(await request.read()))
    model = f.string("model")
    if not model:
        raise InvalidRequest("model is required")
    prompt = f.string("prompt")
    vectors, _, _ = await _embed_raw(
        state,
        model,
        [prompt] if prompt else [],
        options=f.object("options"),
        keep_alive=_keep_alive(f),
        truncate=True,
        started=started,
    )
    return web.json_response({"embedding": vectors[0] if vectors else []})


# -- OpenAI -------------------------------------------------------------------------------------
def openai_error(exc: CorralError) -> web.Response:
    """An OpenAI error object for `exc`, with its status."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(exc.status, "api_error")
    body = {"error": {"message": exc.message, "type": kind, "param": None, "code": None}}
    return web.json_response(body, status=exc.status)


def _openai_inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidRequest("invalid input: input must be a string or a non-empty array of strings")


def _base64(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


async def openai_embeddings(request: web.Request) -> web.Response:
    """`POST /v1/embeddings` in OpenAI's shapes, errors included."""
    try:
        return await _openai_embeddings(request)
    except CorralError as exc:
        return openai_error(exc)


async def _openai_embeddings(request: web.Request) -> web.Response:
    started = time.monotonic_ns()
    state = request.app[STATE]
    f = Fields(decode_body(await request.read()))
    model = f.string("model")
    if not model:
        raise InvalidRequest("model is required")
    texts = _openai_inputs(f.raw("input"))
    encoding = f.string("encoding_format", "float")
    if encoding.lower() not in ("float", "base64"):
        raise InvalidRequest(
            f"Invalid value for 'encoding_format' = {encoding}. "
            "Supported values: ['float', 'base64']."
        )
    dimensions = f.integer("dimensions", 0, minimum=0)
    vectors, count, _ = await _embed_raw(
        state, model, texts, options={}, keep_alive=None, truncate=True, started=started
    )
    data = []
    for index, vector in enumerate(_cut(vectors, dimensions)):
        value: Any = _base64(vector) if encoding.lower() == "base64" else vector
        data.append({"object": "embedding", "embedding": value, "index": index})
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": count, "total_tokens": count},
        }
    )

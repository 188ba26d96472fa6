"""Validation of the runner's request bodies into frozen dataclasses.

Each parser takes the decoded JSON object and raises `InvalidRequest` naming the field
that is wrong, so the server can answer 400 before any llama.cpp work starts.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from corral.errors import InvalidRequest

__all__ = [
    "CompletionRequest",
    "DetokenizeRequest",
    "EmbeddingRequest",
    "TokenizeRequest",
    "parse_completion",
    "parse_detokenize",
    "parse_embedding",
    "parse_tokenize",
]


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One `POST /completion`: a fully rendered prompt and its sampling options."""

    prompt: str
    n_predict: int = -1
    """Tokens to generate at most; -1 means until a stop, -2 until the context is full."""
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_last_n: int = 64
    """Tokens the repetition penalties look back over; -1 means the whole context."""
    repeat_penalty: float = 1.1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int = -1
    """-1 picks a random seed."""
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    num_keep: int = 4
    """Leading tokens that truncation and context shift keep; negative keeps the whole prompt."""
    shift: bool = True
    """Shift the context when it fills instead of ending with "length"."""
    truncate: bool = True
    """Cut a prompt longer than the context (keeping `num_keep`) instead of rejecting it."""
    add_bos: bool | None = None
    """None follows the model's own setting."""
    logprobs: bool = False
    """Report each generated token's log-probability."""
    top_logprobs: int = 0
    """With `logprobs`, this many most likely alternatives per token (0 to 20)."""
    images: tuple[bytes, ...] = ()
    """Pictures the prompt's `[img-N]` markers refer to (base64 on the wire)."""


@dataclass(frozen=True, slots=True)
class TokenizeRequest:
    """One `POST /tokenize`."""

    content: str
    add_special: bool = False
    parse_special: bool = True


@dataclass(frozen=True, slots=True)
class DetokenizeRequest:
    """One `POST /detokenize`."""

    tokens: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """One `POST /embedding`: one or more texts to embed."""

    content: tuple[str, ...]
    truncate: bool = True
    """Cut an input longer than the context instead of failing."""


_INT_FIELDS = ("n_predict", "top_k", "repeat_last_n", "seed", "num_keep", "top_logprobs")
_FLOAT_FIELDS = (
    "temperature",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
)
_BOOL_FIELDS = ("add_bos", "logprobs", "shift", "truncate")
_COMPLETION_FIELDS = frozenset(
    {"prompt", "stop", "grammar", "images", *_BOOL_FIELDS, *_INT_FIELDS, *_FLOAT_FIELDS}
)


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not {type(body).__name__}")
    return body


def _reject_unknown(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise InvalidRequest(f'unknown field "{unknown[0]}" in the request')


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f'field "{name}" must be an integer, not {value!r}')
    return value


def _float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f'field "{name}" must be a number, not {value!r}')
    result = float(value)
    if result != result or result in (float("inf"), float("-inf")):
        raise InvalidRequest(f'field "{name}" must be a finite number, not {value!r}')
    return result


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f'field "{name}" must be true or false, not {value!r}')
    return value


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f'field "{name}" must be a string, not {value!r}')
    return value


def parse_completion(body: Any) -> CompletionRequest:
    """Validate a `/completion` body.

    Raises:
        InvalidRequest: a field is missing, unknown, of the wrong type or out of range.
    """
    obj = _require_object(body)
    _reject_unknown(obj, _COMPLETION_FIELDS)
    if "prompt" not in obj:
        raise InvalidRequest('field "prompt" is required')
    kwargs: dict[str, Any] = {"prompt": _str("prompt", obj["prompt"])}
    for name in _INT_FIELDS:
        if obj.get(name) is not None:
            kwargs[name] = _int(name, obj[name])
    for name in _FLOAT_FIELDS:
        if obj.get(name) is not None:
            kwargs[name] = _float(name, obj[name])
    if obj.get("stop") is not None:
        stop = obj["stop"]
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise InvalidRequest(f'field "stop" must be a list of strings, not {stop!r}')
        kwargs["stop"] = tuple(s for s in stop if s)
    if obj.get("grammar") is not None:
        grammar = _str("grammar", obj["grammar"])
        kwargs["grammar"] = grammar or None
    for name in _BOOL_FIELDS:
        if obj.get(name) is not None:
            kwargs[name] = _bool(name, obj[name])
    if obj.get("images") is not None:
        kwargs["images"] = _images(obj["images"])
    req = CompletionRequest(**kwargs)
    _check_ranges(req)
    return req


def _images(value: Any) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise InvalidRequest(f'field "images" must be a list of base64 strings, not {value!r}')
    images: list[bytes] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidRequest(f'field "images[{index}]" must be a base64 string')
        try:
            images.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidRequest(f'field "images[{index}]" is not valid base64') from None
        if not images[-1]:
            raise InvalidRequest(f'field "images[{index}]" is empty')
    return tuple(images)


def _check_ranges(req: CompletionRequest) -> None:
    if req.n_predict < -2:
        raise InvalidRequest(f'field "n_predict" must be -1 or more, not {req.n_predict}')
    if req.temperature < 0:
        raise InvalidRequest(f'field "temperature" must not be negative, not {req.temperature}')
    if req.top_k < 0:
        raise InvalidRequest(f'field "top_k" must not be negative, not {req.top_k}')
    if req.repeat_last_n < -1:
        raise InvalidRequest(f'field "repeat_last_n" must be -1 or more, not {req.repeat_last_n}')
    for name in ("top_p", "min_p", "typical_p"):
        value = getattr(req, name)
        if not 0.0 <= value <= 1.0:
            raise InvalidRequest(f'field "{name}" must be between 0 and 1, not {value}')
    if not 0 <= req.top_logprobs <= 20:
        raise InvalidRequest(
            f'field "top_logprobs" must be between 0 and 20, not {req.top_logprobs}'
        )
    if req.repeat_penalty < 0:
        raise InvalidRequest(
            f'field "repeat_penalty" must not be negative, not {req.repeat_penalty}'
        )


def parse_tokenize(body: Any) -> TokenizeRequest:
    """Validate a `/tokenize` body."""
    obj = _require_object(body)
    _reject_unknown(obj, frozenset({"content", "add_special", "parse_special"}))
    if "content" not in obj:
        raise InvalidRequest('field "content" is required')
    kwargs: dict[str, Any] = {"content": _str("content", obj["content"])}
    for name in ("add_special", "parse_special"):
        if obj.get(name) is not None:
            kwargs[name] = _bool(name, obj[name])
    return TokenizeRequest(**kwargs)


def parse_detokenize(body: Any) -> DetokenizeRequest:
    """Validate a `/detokenize` body (token ids are range-checked by the engine)."""
    obj = _require_object(body)
    _reject_unknown(obj, frozenset({"tokens"}))
    tokens = obj.get("tokens")
    if not isinstance(tokens, list):
        raise InvalidRequest(f'field "tokens" must be a list of integers, not {tokens!r}')
    for t in tokens:
        if isinstance(t, bool) or not isinstance(t, int):
            raise InvalidRequest(f'field "tokens" must hold only integers, not {t!r}')
    return DetokenizeRequest(tokens=tuple(tokens))


def parse_embedding(body: Any) -> EmbeddingRequest:
    """Validate an `/embedding` body; `content` is a string or a list of strings."""
    obj = _require_object(body)
    _reject_unknown(obj, frozenset({"content", "truncate"}))
    content = obj.get("content")
    if isinstance(content, str):
        content = [content]
    if not isinstance(content, list) or not all(isinstance(c, str) for c in content):
        raise InvalidRequest(f'field "content" must be a list of strings, not {content!r}')
    truncate = _bool("truncate", obj["truncate"]) if obj.get("truncate") is not None else True
    return EmbeddingRequest(content=tuple(content), truncate=truncate)

"""Ollama's native request bodies, parsed and validated into frozen dataclasses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from corral.api.fields import Fields
from corral.durations import parse_keep_alive
from corral.errors import InvalidRequest

__all__ = [
    "ChatRequest",
    "CopyRequest",
    "CreateRequest",
    "GenerateRequest",
    "Message",
    "ModelRequest",
    "PullRequest",
    "ShowRequest",
    "parse_chat",
    "parse_copy",
    "parse_create",
    "parse_generate",
    "parse_model_request",
    "parse_pull",
    "parse_show",
]

_THINK_LEVELS = ("high", "medium", "low", "max")


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message as Ollama's `api.Message` carries it."""

    role: str
    content: str = ""
    thinking: str = ""
    images: tuple[str, ...] = ()
    tool_calls: tuple[dict[str, Any], ...] = ()
    tool_name: str = ""
    tool_call_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The wire form, with empty optional fields left out."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.thinking:
            data["thinking"] = self.thinking
        if self.images:
            data["images"] = list(self.images)
        if self.tool_calls:
            data["tool_calls"] = list(self.tool_calls)
        if self.tool_name:
            data["tool_name"] = self.tool_name
        if self.tool_call_id:
            data["tool_call_id"] = self.tool_call_id
        return data


@dataclass(frozen=True, slots=True)
class _Common:
    model: str
    stream: bool = True
    format: str | dict[str, Any] | None = None
    keep_alive: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    think: bool | str | None = None
    truncate: bool = True
    shift: bool = True
    debug_render_only: bool = False
    logprobs: bool = False
    top_logprobs: int = 0


@dataclass(frozen=True, slots=True)
class GenerateRequest(_Common):
    """`POST /api/generate`."""

    prompt: str = ""
    suffix: str = ""
    system: str | None = None
    template: str | None = None
    context: tuple[int, ...] = ()
    raw: bool = False
    images: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest(_Common):
    """`POST /api/chat`."""

    messages: tuple[Message, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """`POST /api/create`."""

    model: str
    stream: bool = True
    from_: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    adapters: dict[str, str] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: tuple[Message, ...] | None = None
    license: tuple[str, ...] = ()
    quantize: str | None = None


@dataclass(frozen=True, slots=True)
class ShowRequest:
    """`POST /api/show`."""

    model: str
    verbose: bool = False
    system: str | None = None


@dataclass(frozen=True, slots=True)
class CopyRequest:
    """`POST /api/copy`."""

    source: str
    destination: str


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A body that names one model (`DELETE /api/delete`)."""

    model: str


@dataclass(frozen=True, slots=True)
class PullRequest:
    """`POST /api/pull` and `POST /api/push`."""

    model: str
    insecure: bool = False
    stream: bool = True


def _model(f: Fields) -> str:
    """`model`, or the deprecated `name` Ollama still accepts."""
    return f.string("model") or f.string("name")


def _keep_alive(f: Fields) -> float | None:
    value = f.raw("keep_alive")
    if value is None:
        return None
    try:
        return parse_keep_alive(value)
    except ValueError as exc:
        raise InvalidRequest(f'invalid value for "keep_alive": {exc}') from None


def _format(f: Fields) -> str | dict[str, Any] | None:
    value = f.raw("format")
    if value is None or value == "":
        return None
    if value == "json":
        return "json"
    if isinstance(value, dict):
        return value
    shown = json.dumps(value, ensure_ascii=False)
    raise InvalidRequest(f'invalid format: {shown}; expected "json" or a valid JSON Schema object')


def _think(f: Fields) -> bool | str | None:
    value = f.raw("think")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _THINK_LEVELS:
        return value
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    raise InvalidRequest(
        f'invalid think value: {shown} (must be "high", "medium", "low", "max", true, or false)'
    )


def _common(f: Fields) -> dict[str, Any]:
    return {
        "model": _model(f),
        "stream": f.boolean("stream", True),
        "format": _format(f),
        "keep_alive": _keep_alive(f),
        "options": f.object("options"),
        "think": _think(f),
        "truncate": f.boolean("truncate", True),
        "shift": f.boolean("shift", True),
        "debug_render_only": f.boolean("_debug_render_only", False),
        "logprobs": f.boolean("logprobs", False),
        "top_logprobs": f.integer("top_logprobs", 0, minimum=0, maximum=20),
    }


def _images(f: Fields, key: str = "images") -> tuple[str, ...]:
    return tuple(f.strings(key))


def _message(f: Fields, index: int) -> Message:
    m = f.nested("messages", index)
    tool_calls = m.array("tool_calls")
    for position, call in enumerate(tool_calls):
        if not isinstance(call, dict):
            raise InvalidRequest(
                f'invalid value for "messages[{index}].tool_calls[{position}]": expected an object'
            )
    return Message(
        role=m.string("role").lower(),
        content=m.string("content"),
        thinking=m.string("thinking"),
        images=_images(m),
        tool_calls=tuple(tool_calls),
        tool_name=m.string("tool_name"),
        tool_call_id=m.string("tool_call_id"),
    )


def _messages(f: Fields) -> tuple[Message, ...]:
    return tuple(_message(f, index) for index in range(len(f.array("messages"))))


def parse_generate(body: dict[str, Any]) -> GenerateRequest:
    f = Fields(body)
    context = f.array("context")
    for index, token in enumerate(context):
        if isinstance(token, bool) or not isinstance(token, int):
            raise InvalidRequest(f'invalid value for "context[{index}]": expected an integer')
    request = GenerateRequest(
        **_common(f),
        prompt=f.string("prompt"),
        suffix=f.string("suffix"),
        system=f.optional_string("system"),
        template=f.optional_string("template"),
        context=tuple(context),
        raw=f.boolean("raw", False),
        images=_images(f),
    )
    if request.raw and (request.template or request.system or request.context):
        raise InvalidRequest("raw mode does not support template, system, or context")
    return request


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    f = Fields(body)
    tools = f.array("tools")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequest(f'invalid value for "tools[{index}]": expected an object')
    request = ChatRequest(**_common(f), messages=_messages(f), tools=tuple(tools))
    if not request.model:
        raise InvalidRequest("model is required")
    return request


def parse_create(body: dict[str, Any]) -> CreateRequest:
    f = Fields(body)
    return CreateRequest(
        model=_model(f),
        stream=f.boolean("stream", True),
        from_=f.optional_string("from"),
        files=f.string_map("files"),
        adapters=f.string_map("adapters"),
        template=f.optional_string("template"),
        system=f.optional_string("system"),
        parameters=f.object("parameters"),
        messages=_messages(f) if f.has("messages") else None,
        license=tuple(f.string_or_strings("license")),
        quantize=f.optional_string("quantize") or f.optional_string("quantization"),
    )


def parse_show(body: dict[str, Any]) -> ShowRequest:
    f = Fields(body)
    return ShowRequest(
        model=_model(f), verbose=f.boolean("verbose", False), system=f.optional_string("system")
    )


def parse_copy(body: dict[str, Any]) -> CopyRequest:
    f = Fields(body)
    return CopyRequest(source=f.string("source"), destination=f.string("destination"))


def parse_model_request(body: dict[str, Any]) -> ModelRequest:
    return ModelRequest(model=_model(Fields(body)))


def parse_pull(body: dict[str, Any]) -> PullRequest:
    f = Fields(body)
    return PullRequest(
        model=_model(f), insecure=f.boolean("insecure", False), stream=f.boolean("stream", True)
    )

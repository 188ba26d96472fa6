"""Anthropic's Messages wire format, translated to and from the native one.

Pure functions and a stateful stream converter, no I/O: a `/v1/messages` body
becomes a native `ChatRequest`, and native chat events become a `message` object
or the SSE event sequence (`message_start`, `ping`, `content_block_*`,
`message_delta`, `message_stop`), following Ollama's `anthropic/anthropic.go`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.api import ChatRequest, Fields, parse_chat
from corral.errors import InvalidRequest

__all__ = [
    "AnthropicMessages",
    "MessageStream",
    "message_response",
    "messages_request",
    "new_message_id",
    "stop_reason",
]

_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "max", "xhigh": "high"}


def new_message_id() -> str:
    """`msg_` and 24 hex digits, as Ollama's ids look."""
    return "msg_" + secrets.token_hex(12)


def _tool_id() -> str:
    return "toolu_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class AnthropicMessages:
    """A translated `/v1/messages` request."""

    native: ChatRequest
    stream: bool = False


def _text_of(value: object, where: str) -> str:
    """A string, or the concatenated text of an array of text blocks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for index, block in enumerate(value):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise InvalidRequest(f'invalid value for "{where}[{index}]": expected a text block')
            text = block.get("text")
            if not isinstance(text, str):
                raise InvalidRequest(
                    f'invalid value for "{where}[{index}].text": expected a string'
                )
            parts.append(text)
        return "\n".join(parts)
    raise InvalidRequest(f'invalid value for "{where}": expected a string or text blocks')


def _image(block: Mapping[str, Any], where: str) -> str:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        raise InvalidRequest(f'invalid image source type in "{where}": only base64 is supported')
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise InvalidRequest(f'invalid value for "{where}.source.data": expected base64 data')
    return data


def _message(item: object, index: int, names: dict[str, str]) -> list[dict[str, Any]]:
    """One Anthropic message as native messages: tool results first, then the turn itself."""
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequest(f'invalid value for "{where}": expected an object')
    role = item.get("role")
    if role not in ("user", "assistant"):
        raise InvalidRequest(
            f'invalid value for "{where}.role": {json.dumps(role)} (expected "user" or "assistant")'
        )
    content = item.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f'invalid value for "{where}.content": expected a string or blocks')
    texts: list[str] = []
    images: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for position, block in enumerate(content):
        spot = f"{where}.content[{position}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict):
            raise InvalidRequest(f'invalid value for "{spot}": expected a content block')
        if kind == "text":
            texts.append(_text_of([block], spot))
        elif kind == "image":
            images.append(_image(block, spot))
        elif kind == "thinking":
            thinking.append(str(block.get("thinking", "")))
        elif kind == "redacted_thinking":
            continue
        elif kind == "tool_use":
            name, call_id, arguments = block.get("name"), block.get("id"), block.get("input", {})
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f'invalid value for "{spot}.name": expected a tool name')
            if not isinstance(arguments, dict):
                raise InvalidRequest(f'invalid value for "{spot}.input": expected an object')
            call: dict[str, Any] = {
                "function": {"index": len(calls), "name": name, "arguments": arguments}
            }
            if isinstance(call_id, str):
                call["id"] = call_id
                names[call_id] = name
            calls.append(call)
        elif kind == "tool_result":
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest(f'invalid value for "{spot}.tool_use_id": expected an id')
            raw = block.get("content", "")
            result: dict[str, Any] = {
                "role": "tool",
                "content": _text_of(raw, f"{spot}.content") if raw else "",
                "tool_call_id": call_id,
            }
            if call_id in names:
                result["tool_name"] = names[call_id]
            results.append(result)
        else:
            raise InvalidRequest(f'unsupported content block type {json.dumps(kind)} in "{spot}"')
    messages = list(results)
    if texts or images or thinking or calls or not results:
        message: dict[str, Any] = {"role": role, "content": "".join(texts)}
        if images:
            message["images"] = images
        if thinking:
            message["thinking"] = "".join(thinking)
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
    return messages


def _tools(f: Fields) -> list[dict[str, Any]]:
    tools = []
    for index, tool in enumerate(f.array("tools")):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise InvalidRequest(
                f'invalid value for "tools[{index}]": expected {{"name", "input_schema"}}'
            )
        schema = tool.get("input_schema", {"type": "object", "properties": {}})
        if not isinstance(schema, dict):
            raise InvalidRequest(
                f'invalid value for "tools[{index}].input_schema": expected an object'
            )
        function: dict[str, Any] = {"name": tool["name"], "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def _apply_tool_choice(tools: list[dict[str, Any]], choice: object) -> list[dict[str, Any]]:
    if choice is None:
        return tools
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("auto", "any"):
        return tools
    if kind == "none":
        return []
    if kind == "tool" and isinstance(choice, dict):
        name = choice.get("name")
        chosen = [t for t in tools if t["function"]["name"] == name]
        if not chosen:
            raise InvalidRequest(f'tool_choice names the tool "{name}", which is not in tools')
        return chosen
    raise InvalidRequest(
        f"invalid tool_choice: {json.dumps(choice)[:60]} "
        '(expected type "auto", "any", "tool" or "none")'
    )


def _think(f: Fields) -> bool | str | None:
    thinking = f.raw("thinking")
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind == "enabled":
            return True
        if kind == "disabled":
            return False
        raise InvalidRequest(
            f'invalid value for "thinking": {json.dumps(thinking)[:60]} '
            '(expected {"type": "enabled", "budget_tokens": N} or {"type": "disabled"})'
        )
    effort = Fields(f.object("output_config"), "output_config.").raw("effort")
    if effort is None:
        return None
    if isinstance(effort, str) and effort in _EFFORTS:
        return _EFFORTS[effort]
    raise InvalidRequest(f'invalid value for "output_config.effort": {json.dumps(effort)}')


def messages_request(body: Mapping[str, Any], *, count_only: bool = False) -> AnthropicMessages:
    """Translate a `/v1/messages` body into a native chat request.

    `count_only` (for `/v1/messages/count_tokens`) does not require `max_tokens`.

    Raises:
        InvalidRequest: a missing model or max_tokens, empty messages, a bad block.
    """
    f = Fields(body)
    model = f.string("model")
    if not model:
        raise InvalidRequest("model is required")
    options: dict[str, Any] = {}
    if not count_only or f.has("max_tokens"):
        max_tokens = f.raw("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
            raise InvalidRequest("max_tokens is required and must be positive")
        options["num_predict"] = max_tokens
    raw_messages = f.array("messages")
    if not raw_messages:
        raise InvalidRequest("messages is required and must not be empty")
    messages: list[dict[str, Any]] = []
    if f.has("system"):
        system = _text_of(f.raw("system"), "system")
        if system:
            messages.append({"role": "system", "content": system})
    names: dict[str, str] = {}
    for index, item in enumerate(raw_messages):
        messages += _message(item, index, names)
    for key in ("temperature", "top_p"):
        if f.has(key):
            options[key] = f.number(key, 0.0)
    if f.has("top_k"):
        options["top_k"] = f.integer("top_k", 0, minimum=0)
    stop = f.strings("stop_sequences")
    if stop:
        options["stop"] = stop
    native = {
        "model": model,
        "messages": messages,
        "stream": True,
        "options": options,
        "tools": _apply_tool_choice(_tools(f), f.raw("tool_choice")),
        "think": _think(f),
        "_debug_render_only": f.boolean("_debug_render_only", False),
    }
    return AnthropicMessages(native=parse_chat(native), stream=f.boolean("stream", False))


def stop_reason(done_reason: object, *, tool_use: bool = False) -> str:
    """native `done_reason` → Anthropic `stop_reason`."""
    if tool_use:
        return "tool_use"
    if done_reason == "length":
        return "max_tokens"
    if done_reason in (None, "", "stop"):
        return "end_turn"
    return "stop_sequence"


def _tool_block(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": call.get("id") or _tool_id(),
        "name": function.get("name", ""),
        "input": function.get("arguments") or {},
    }


def _usage(final: Mapping[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": int(final.get("prompt_eval_count") or 0),
        "output_tokens": int(final.get("eval_count") or 0),
    }


def message_response(folded: Mapping[str, Any], *, id_: str, model: str) -> dict[str, Any]:
    """A `message` object from folded native chat events (see `openai_wire.fold_events`)."""
    message = folded.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("thinking"):
        content.append({"type": "thinking", "thinking": message["thinking"], "signature": ""})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    calls: Sequence[Mapping[str, Any]] = message.get("tool_calls") or []
    content += [_tool_block(call) for call in calls]
    return {
        "id": id_,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(folded.get("done_reason"), tool_use=bool(calls)),
        "stop_sequence": None,
        "usage": _usage(folded),
    }


Event = tuple[str, dict[str, Any]]


@dataclass
class MessageStream:
    """Native chat events in, Anthropic's named SSE events out.

    `message_start` and a `ping` come first; each run of thinking, text or a tool
    call is one content block (`content_block_start`, deltas, `content_block_stop`);
    `message_delta` carries the stop reason and usage, and `message_stop` ends it.
    """

    model: str
    input_tokens: int = 0
    id: str = field(default_factory=new_message_id)
    _started: bool = False
    _index: int = -1
    _open: str | None = None
    _tool_use: bool = False

    def _start(self) -> list[Event]:
        self._started = True
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        return [
            ("message_start", {"type": "message_start", "message": message}),
            ("ping", {"type": "ping"}),
        ]

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[Event]:
        events = self._close()
        self._index += 1
        self._open = kind
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        )
        return events

    def _delta(self, delta: dict[str, Any]) -> Event:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )

    def feed(self, event: Mapping[str, Any]) -> list[Event]:
        """Events for one native chat event (the final one included)."""
        events = [] if self._started else self._start()
        message = event.get("message") or {}
        thinking = message.get("thinking") or ""
        if thinking:
            if self._open != "thinking":
                events += self._open_block("thinking", {"type": "thinking", "thinking": ""})
            events.append(self._delta({"type": "thinking_delta", "thinking": thinking}))
        text = message.get("content") or ""
        if text:
            if self._open != "text":
                if self._open == "thinking":
                    events += self._close_thinking()
                events += self._open_block("text", {"type": "text", "text": ""})
            events.append(self._delta({"type": "text_delta", "text": text}))
        for call in message.get("tool_calls") or []:
            if self._open == "thinking":
                events += self._close_thinking()
            block = _tool_block(call)
            arguments = block.pop("input")
            events += self._open_block("tool_use", {**block, "input": {}})
            partial = json.dumps(arguments, ensure_ascii=False)
            events.append(self._delta({"type": "input_json_delta", "partial_json": partial}))
            self._tool_use = True
        if event.get("done"):
            if self._open == "thinking":
                events += self._close_thinking()
            events += self._close()
            usage = _usage(event)
            events.append(
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": stop_reason(
                                event.get("done_reason"), tool_use=self._tool_use
                            ),
                            "stop_sequence": None,
                        },
                        "usage": usage,
                    },
                )
            )
            events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _close_thinking(self) -> list[Event]:
        """A thinking block ends with its (empty, unsigned) signature, as Anthropic's do."""
        return [self._delta({"type": "signature_delta", "signature": ""})]

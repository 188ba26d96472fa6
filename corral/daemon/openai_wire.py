"""OpenAI's chat and completion wire format, translated to and from the native one.

Pure functions and small stateful stream converters, no I/O: an OpenAI request
body becomes a native `ChatRequest` / `GenerateRequest` (so validation and the
generation path are the native ones), and native events become OpenAI's response
objects and `chat.completion.chunk`s, as Ollama's `openai/openai.go` does.
"""

from __future__ import annotations

import json
import random
import secrets
import string
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.api import ChatRequest, Fields, GenerateRequest, parse_chat, parse_generate
from corral.daemon.grammars import format_from_response_format
from corral.errors import InvalidRequest

__all__ = [
    "SYSTEM_FINGERPRINT",
    "ChatStream",
    "CompletionStream",
    "OpenAIChat",
    "OpenAICompletion",
    "chat_request",
    "chat_response",
    "completion_request",
    "completion_response",
    "finish_reason",
    "fold_events",
    "logprobs_to_openai",
    "model_object",
    "new_id",
    "think_for_effort",
    "tool_calls_to_openai",
    "usage",
]

SYSTEM_FINGERPRINT = "fp_ollama"

_EFFORTS: Mapping[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}
_IMAGE_PREFIXES = (
    "data:image/jpeg;base64,",
    "data:image/jpg;base64,",
    "data:image/png;base64,",
    "data:image/webp;base64,",
    "data:;base64,",
)
_ID_CHARS = string.ascii_lowercase + string.digits


def new_id(prefix: str) -> str:
    """`chatcmpl-NNN` / `cmpl-NNN`, Ollama's ids (a number below 999)."""
    return f"{prefix}-{random.randrange(999)}"


def _call_id() -> str:
    return "call_" + "".join(secrets.choice(_ID_CHARS) for _ in range(8))


# --- requests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenAIChat:
    """A translated `/v1/chat/completions` request."""

    native: ChatRequest
    stream: bool = False
    include_usage: bool = False


@dataclass(frozen=True, slots=True)
class OpenAICompletion:
    """A translated `/v1/completions` request."""

    native: GenerateRequest
    stream: bool = False
    include_usage: bool = False
    echo: bool = False
    logprobs: int | None = None


def think_for_effort(effort: object) -> bool | str | None:
    """`reasoning_effort` as native `think`: none → false, minimal → low, xhigh → max.

    Raises:
        InvalidRequest: an effort OpenAI and Ollama do not know.
    """
    if effort is None:
        return None
    if isinstance(effort, str) and effort in _EFFORTS:
        return _EFFORTS[effort]
    allowed = ", ".join(_EFFORTS)
    raise InvalidRequest(
        f"invalid reasoning value: {json.dumps(effort)} (must be one of {allowed})"
    )


def _image(url: object, where: str) -> str:
    if isinstance(url, dict):
        url = url.get("url")
    if not isinstance(url, str):
        raise InvalidRequest(f'invalid image input in "{where}": expected a data URL string')
    if url.startswith(("http://", "https://")):
        raise InvalidRequest(
            "image URLs are not currently supported, please use base64 encoded data instead"
        )
    for prefix in _IMAGE_PREFIXES:
        if url.startswith(prefix):
            return url.removeprefix(prefix)
    raise InvalidRequest(
        f'invalid image input in "{where}": expected data:image/(jpeg|png|webp);base64,...'
    )


def _arguments(call: Mapping[str, Any], where: str) -> dict[str, Any]:
    function = call.get("function")
    raw = function.get("arguments") if isinstance(function, dict) else None
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise InvalidRequest(f'invalid tool call arguments in "{where}": expected a JSON string')
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidRequest(
            f'invalid tool call arguments in "{where}": {raw[:60]!r} is not JSON'
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f'invalid tool call arguments in "{where}": expected a JSON object')
    return value


def _native_tool_calls(calls: list[Any], where: str) -> list[dict[str, Any]]:
    result = []
    for index, call in enumerate(calls):
        spot = f"{where}.tool_calls[{index}]"
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            raise InvalidRequest(f'invalid value for "{spot}": expected a function tool call')
        name = call["function"].get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f'invalid value for "{spot}.function.name": expected a name')
        native: dict[str, Any] = {
            "function": {"index": index, "name": name, "arguments": _arguments(call, spot)}
        }
        if isinstance(call.get("id"), str):
            native["id"] = call["id"]
        result.append(native)
    return result


def _native_messages(raw: list[Any]) -> list[dict[str, Any]]:
    """OpenAI messages as native ones: each content part becomes its own message."""
    messages: list[dict[str, Any]] = []
    names_by_call: dict[str, str] = {}
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f'invalid value for "{where}": expected an object')
        m = Fields(item, f"{where}.")
        role = m.string("role")
        if not role:
            raise InvalidRequest(f'"{where}.role" is required')
        content = item.get("content")
        added: list[dict[str, Any]] = []
        if content is None or isinstance(content, str):
            added.append({"role": role, "content": content or ""})
        elif isinstance(content, list):
            for position, part in enumerate(content):
                spot = f"{where}.content[{position}]"
                if not isinstance(part, dict):
                    raise InvalidRequest(f'invalid value for "{spot}": expected an object')
                kind = part.get("type")
                if kind == "text":
                    text = part.get("text")
                    if not isinstance(text, str):
                        raise InvalidRequest(f'invalid value for "{spot}.text": expected a string')
                    added.append({"role": role, "content": text})
                elif kind == "image_url":
                    added.append(
                        {
                            "role": role,
                            "content": "",
                            "images": [_image(part.get("image_url"), spot)],
                        }
                    )
                else:
                    raise InvalidRequest(
                        f'invalid content part type {json.dumps(kind)} in "{spot}" '
                        '(expected "text" or "image_url")'
                    )
        else:
            raise InvalidRequest(
                f'invalid value for "{where}.content": expected a string or an array of parts'
            )
        if not added:
            added.append({"role": role, "content": ""})
        last = added[-1]
        reasoning = m.string("reasoning") or m.string("reasoning_content")
        if reasoning:
            last["thinking"] = reasoning
        calls = m.array("tool_calls")
        if calls:
            native_calls = _native_tool_calls(calls, where)
            last["tool_calls"] = native_calls
            for call in native_calls:
                if "id" in call:
                    names_by_call[call["id"]] = call["function"]["name"]
        if role == "tool":
            call_id = m.string("tool_call_id")
            name = m.string("name") or names_by_call.get(call_id, "")
            for message in added:
                if call_id:
                    message["tool_call_id"] = call_id
                if name:
                    message["tool_name"] = name
        messages += added
    return messages


def _tools(f: Fields) -> list[dict[str, Any]]:
    tools = f.array("tools")
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(
                f'invalid value for "tools[{index}]": expected {{"type": "function", '
                '"function": {"name": ..., "parameters": ...}}'
            )
    return tools


def _apply_tool_choice(tools: list[dict[str, Any]], choice: object) -> list[dict[str, Any]]:
    """`tool_choice`: "none" drops the tools, a named function keeps only that one."""
    if choice is None or choice in ("auto", "required"):
        return tools
    if choice == "none":
        return []
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        chosen = [t for t in tools if t["function"]["name"] == name]
        if not chosen:
            raise InvalidRequest(f'tool_choice names the function "{name}", which is not in tools')
        return chosen
    raise InvalidRequest(
        f"invalid tool_choice: {json.dumps(choice)[:60]} "
        '(expected "none", "auto", "required" or {"type": "function", "function": {"name"}})'
    )


def _format(value: object) -> str | dict[str, Any] | None:
    """`response_format` as native `format`; a json_schema is compiled here (400 if invalid)."""
    return format_from_response_format(value)


def _stop(f: Fields) -> list[str] | None:
    value = f.raw("stop")
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    raise InvalidRequest("invalid type for 'stop' field: expected a string or an array of strings")


def _sampling(f: Fields) -> dict[str, Any]:
    """The options both endpoints share, with OpenAI's defaults (temperature and top_p 1)."""
    options: dict[str, Any] = {
        "temperature": f.number("temperature", 1.0),
        "top_p": f.number("top_p", 1.0) or 1.0,
        "frequency_penalty": f.number("frequency_penalty", 0.0),
        "presence_penalty": f.number("presence_penalty", 0.0),
    }
    max_tokens = f.raw("max_completion_tokens")
    key = "max_completion_tokens" if max_tokens is not None else "max_tokens"
    if f.has(key):
        options["num_predict"] = f.integer(key, 0, minimum=1)
    if f.has("seed"):
        options["seed"] = f.integer("seed", 0)
    stop = _stop(f)
    if stop is not None:
        options["stop"] = stop
    if f.integer("n", 1) != 1:
        raise InvalidRequest("n must be 1: corral returns one choice per request")
    if f.object("logit_bias"):
        raise InvalidRequest("logit_bias is not supported")
    return options


def _include_usage(f: Fields) -> bool:
    return Fields(f.object("stream_options"), "stream_options.").boolean("include_usage", False)


def chat_request(body: Mapping[str, Any]) -> OpenAIChat:
    """Translate a `/v1/chat/completions` body into a native chat request.

    Raises:
        InvalidRequest: a missing model, empty messages, or a field of the wrong type.
    """
    f = Fields(body)
    model = f.string("model")
    if not model:
        raise InvalidRequest("model is required")
    raw_messages = f.array("messages")
    if not raw_messages:
        raise InvalidRequest("[] is too short - 'messages'")
    reasoning = f.object("reasoning")
    effort = f.raw("reasoning_effort")
    if effort is None:
        effort = reasoning.get("effort")
    native: dict[str, Any] = {
        "model": model,
        "messages": _native_messages(raw_messages),
        "stream": True,
        "options": _sampling(f),
        "format": _format(f.raw("response_format")),
        "tools": _apply_tool_choice(_tools(f), f.raw("tool_choice")),
        "think": think_for_effort(effort),
        "logprobs": f.boolean("logprobs", False),
        "top_logprobs": f.integer("top_logprobs", 0, minimum=0, maximum=20),
        "_debug_render_only": f.boolean("_debug_render_only", False),
    }
    return OpenAIChat(
        native=parse_chat(native),
        stream=f.boolean("stream", False),
        include_usage=_include_usage(f),
    )


def completion_request(body: Mapping[str, Any]) -> OpenAICompletion:
    """Translate a `/v1/completions` body into a native generate request.

    `prompt` is a string (or a list holding one); `suffix` goes to the template's
    fill-in-the-middle slot; `echo` puts the prompt in front of the answer.

    Raises:
        InvalidRequest: a missing model or prompt, or a field of the wrong type.
    """
    f = Fields(body)
    model = f.string("model")
    if not model:
        raise InvalidRequest("model is required")
    prompt = f.raw("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequest('invalid value for "prompt": expected a string')
    logprobs = f.integer("logprobs", 0, minimum=0, maximum=20) if f.has("logprobs") else None
    native: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "suffix": f.string("suffix"),
        "stream": True,
        "options": _sampling(f),
        "logprobs": logprobs is not None,
        "top_logprobs": logprobs or 0,
        "_debug_render_only": f.boolean("_debug_render_only", False),
    }
    return OpenAICompletion(
        native=parse_generate(native),
        stream=f.boolean("stream", False),
        include_usage=_include_usage(f),
        echo=f.boolean("echo", False),
        logprobs=logprobs,
    )


# --- responses ------------------------------------------------------------------------


def fold_events(events: Iterable[Mapping[str, Any]], *, field: str | None) -> dict[str, Any]:
    """Fold native events into one: text, thinking, tool calls and logprobs concatenated.

    `field` is "message" for chat events and None for generate events.
    """
    content: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    logprobs: list[dict[str, Any]] = []
    last: Mapping[str, Any] = {}
    for event in events:
        last = event
        part = event.get(field, {}) if field else event
        content.append(str(part.get("content" if field else "response", "") or ""))
        thinking.append(str(part.get("thinking", "") or ""))
        calls += part.get("tool_calls") or []
        logprobs += event.get("logprobs") or []
    result = dict(last)
    body = {"content": "".join(content), "thinking": "".join(thinking), "tool_calls": calls}
    if field:
        result[field] = {"role": "assistant", **body}
    else:
        result["response"] = body["content"]
        result["thinking"] = body["thinking"]
        result["tool_calls"] = calls
    result["logprobs"] = logprobs
    return result


def usage(final: Mapping[str, Any]) -> dict[str, int]:
    """OpenAI's usage object from a native final event's counts."""
    prompt = int(final.get("prompt_eval_count") or 0)
    completion = int(final.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def finish_reason(done_reason: object, *, tool_calls: bool = False) -> str:
    """native `done_reason` → OpenAI `finish_reason` ("length", "tool_calls" or "stop")."""
    if done_reason == "length":
        return "length"
    return "tool_calls" if tool_calls else "stop"


def tool_calls_to_openai(
    calls: Sequence[Mapping[str, Any]], *, start: int = 0
) -> list[dict[str, Any]]:
    """native tool calls → OpenAI's, arguments as a JSON string, each with an id."""
    result = []
    for offset, call in enumerate(calls):
        function = call.get("function") or {}
        result.append(
            {
                "id": call.get("id") or _call_id(),
                "index": start + offset,
                "type": "function",
                "function": {
                    "name": function.get("name", ""),
                    "arguments": json.dumps(function.get("arguments") or {}, ensure_ascii=False),
                },
            }
        )
    return result


def _token_logprob(entry: Mapping[str, Any]) -> dict[str, Any]:
    token = str(entry.get("token", ""))
    raw = entry.get("bytes")
    return {
        "token": token,
        "logprob": float(entry.get("logprob", 0.0)),
        "bytes": list(raw) if raw is not None else list(token.encode()),
    }


def logprobs_to_openai(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """native `logprobs` (per token) → OpenAI's `{"content": [...]}` shape."""
    content = []
    for entry in entries:
        item = _token_logprob(entry)
        item["top_logprobs"] = [_token_logprob(top) for top in entry.get("top_logprobs") or []]
        content.append(item)
    return {"content": content}


def _completion_logprobs(entries: Sequence[Mapping[str, Any]], offset: int) -> dict[str, Any]:
    """native `logprobs` → the legacy completions shape (tokens, offsets, top maps)."""
    tokens, token_logprobs, tops, offsets = [], [], [], []
    position = offset
    for entry in entries:
        token = str(entry.get("token", ""))
        tokens.append(token)
        token_logprobs.append(float(entry.get("logprob", 0.0)))
        tops.append(
            {
                str(t.get("token", "")): float(t.get("logprob", 0.0))
                for t in entry.get("top_logprobs") or []
            }
        )
        offsets.append(position)
        position += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": token_logprobs,
        "top_logprobs": tops,
        "text_offset": offsets,
    }


def _message(folded_message: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    message: dict[str, Any] = {"role": "assistant", "content": folded_message.get("content", "")}
    if folded_message.get("thinking"):
        message["reasoning"] = folded_message["thinking"]
    calls = folded_message.get("tool_calls") or []
    if calls:
        message["tool_calls"] = tool_calls_to_openai(calls)
    return message, bool(calls)


def chat_response(
    folded: Mapping[str, Any],
    *,
    id_: str,
    model: str,
    created: int | None = None,
    logprobs: bool = False,
) -> dict[str, Any]:
    """A `chat.completion` object from the folded native chat events."""
    message, has_calls = _message(folded.get("message") or {})
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": finish_reason(folded.get("done_reason"), tool_calls=has_calls),
    }
    if logprobs:
        choice["logprobs"] = logprobs_to_openai(folded.get("logprobs") or [])
    return {
        "id": id_,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [choice],
        "usage": usage(folded),
    }


def completion_response(
    folded: Mapping[str, Any],
    *,
    id_: str,
    model: str,
    created: int | None = None,
    echo_prompt: str = "",
    logprobs: bool = False,
) -> dict[str, Any]:
    """A `text_completion` object from the folded native generate events."""
    choice: dict[str, Any] = {
        "text": echo_prompt + str(folded.get("response", "")),
        "index": 0,
        "logprobs": _completion_logprobs(folded.get("logprobs") or [], len(echo_prompt))
        if logprobs
        else None,
        "finish_reason": finish_reason(folded.get("done_reason")),
    }
    return {
        "id": id_,
        "object": "text_completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [choice],
        "usage": usage(folded),
    }


@dataclass
class ChatStream:
    """Native chat events in, `chat.completion.chunk` objects out (Ollama's order).

    The first chunk's delta carries the role; a chunk with both thinking and text is
    split in two; the last chunk has an empty delta and the finish reason; with
    `include_usage` one more chunk has no choices and the usage.
    """

    model: str
    include_usage: bool = False
    logprobs: bool = False
    id: str = field(default_factory=lambda: new_id("chatcmpl"))
    created: int = field(default_factory=lambda: int(time.time()))
    _role_sent: bool = False
    _calls: int = 0

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        choice.update(extra)
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [choice],
        }

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Chunks for one native event (the final one included)."""
        message = event.get("message") or {}
        chunks = []
        extra: dict[str, Any] = {}
        if self.logprobs and event.get("logprobs"):
            extra["logprobs"] = logprobs_to_openai(event["logprobs"])
        if message.get("thinking"):
            chunks.append(self._chunk({"content": "", "reasoning": message["thinking"]}))
        calls = message.get("tool_calls") or []
        content = message.get("content") or ""
        if content or calls or extra:
            delta: dict[str, Any] = {"content": content}
            if calls:
                delta["tool_calls"] = tool_calls_to_openai(calls, start=self._calls)
                self._calls += len(calls)
            chunks.append(self._chunk(delta, None, **extra))
        if event.get("done"):
            finish = finish_reason(event.get("done_reason"), tool_calls=self._calls > 0)
            chunks.append(self._chunk({}, finish))
            if self.include_usage:
                chunks.append(
                    {
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "system_fingerprint": SYSTEM_FINGERPRINT,
                        "choices": [],
                        "usage": usage(event),
                    }
                )
        return chunks


@dataclass
class CompletionStream:
    """Native generate events in, streamed `text_completion` objects out."""

    model: str
    include_usage: bool = False
    echo_prompt: str = ""
    logprobs: bool = False
    id: str = field(default_factory=lambda: new_id("cmpl"))
    created: int = field(default_factory=lambda: int(time.time()))
    _echoed: bool = False
    _offset: int = 0

    def _chunk(
        self, text: str, finish: str | None, logprobs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        choice = {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish}
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [choice],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        text = str(event.get("response", "") or "")
        if not self._echoed:
            text = self.echo_prompt + text
            self._offset = len(self.echo_prompt)
            self._echoed = True
        chunks = []
        done = bool(event.get("done"))
        entries = event.get("logprobs") or []
        logprobs = None
        if self.logprobs and entries:
            logprobs = _completion_logprobs(entries, self._offset)
            self._offset += sum(len(str(e.get("token", ""))) for e in entries)
        if text or done or logprobs:
            finish = finish_reason(event.get("done_reason")) if done else None
            chunks.append(self._chunk(text, finish, logprobs))
        if done and self.include_usage:
            chunks.append(
                {
                    "id": self.id,
                    "object": "text_completion",
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": SYSTEM_FINGERPRINT,
                    "choices": [],
                    "usage": usage(event),
                }
            )
        return chunks


def model_object(name: str, modified: float, *, namespace: str) -> dict[str, Any]:
    """One entry of `GET /v1/models`."""
    return {"id": name, "object": "model", "created": int(modified), "owned_by": namespace}

"""What both clients share: request bodies, timeouts, and daemon answers → corral errors.

Nothing here does I/O. `Client` and `AsyncClient` build a `Call` with the
functions below, send it with their own httpx client, and decode what comes back
with `decode_object` / `decode_line`. Every httpx exception is translated in
`map_transport_errors`, so no httpx type crosses into the front ends.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from corral import __version__, envconfig
from corral.errors import (
    ConfigError,
    CorralError,
    DaemonUnavailable,
    InvalidDigest,
    ProtocolError,
    error_for_code,
)

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "HEARTBEAT_TIMEOUT",
    "STREAM_TIMEOUT",
    "USER_AGENT",
    "Call",
    "JSONObject",
    "KeepAlive",
    "base_url",
    "blob_call",
    "chat_call",
    "check_digest",
    "check_finished",
    "create_call",
    "decode_error",
    "decode_line",
    "decode_object",
    "default_headers",
    "generate_call",
    "map_transport_errors",
    "model_call",
    "pull_call",
    "request_timeout",
    "system_call",
]

JSONObject = dict[str, Any]
KeepAlive = str | float | int

USER_AGENT = f"corral/{__version__}"

CONNECT_TIMEOUT = 10.0
"""Seconds to open a connection; a refused loopback connection fails at once anyway."""

DEFAULT_TIMEOUT = 120.0
"""Seconds a plain (non-streaming) request may take: list, show, copy, delete."""

HEARTBEAT_TIMEOUT = httpx.Timeout(2.0)

STREAM_TIMEOUT = httpx.Timeout(None, connect=CONNECT_TIMEOUT)
"""Streams wait as long as the model thinks (or a pull downloads); only connecting is bounded."""

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ERROR_BODY_LIMIT = 200


def base_url(host: str | None) -> str:
    """The daemon's base URL from an explicit host (any CORRAL_HOST form) or the environment."""
    address = envconfig.host() if host is None else envconfig.parse_host(host)
    return address.url


def default_headers() -> dict[str, str]:
    """Headers every request carries; the bearer token only when CORRAL_API_KEY is set."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/x-ndjson"}
    key = envconfig.api_key()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def request_timeout(timeout: float | None) -> httpx.Timeout:
    """Timeout for plain requests: `timeout` seconds (default `DEFAULT_TIMEOUT`)."""
    seconds = DEFAULT_TIMEOUT if timeout is None else timeout
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


@dataclass(frozen=True, slots=True)
class Call:
    """One request to send: method, path and JSON body."""

    method: str
    path: str
    body: JSONObject | None = None
    stream: bool = False
    done_key: str | None = None
    """For generate/chat streams: the key whose truth marks the last object ("done")."""


def check_digest(digest: str) -> str:
    """Validate a blob digest before it goes into a URL path.

    Raises:
        InvalidDigest: not `sha256:` followed by 64 lowercase hex digits.
    """
    if not _DIGEST.fullmatch(digest):
        raise InvalidDigest(
            f'invalid digest "{digest}": expected sha256: and 64 lowercase hex digits'
        )
    return digest


def _put(body: JSONObject, **fields: Any) -> JSONObject:
    """Add the fields that are set (not None) to `body`."""
    body.update({key: value for key, value in fields.items() if value is not None})
    return body


def _images(images: Sequence[str | bytes] | None) -> list[str] | None:
    if images is None:
        return None
    return [
        base64.b64encode(image).decode("ascii") if isinstance(image, bytes) else image
        for image in images
    ]


def generate_call(
    model: str,
    prompt: str,
    *,
    system: str | None,
    template: str | None,
    options: Mapping[str, Any] | None,
    keep_alive: KeepAlive | None,
    format: str | Mapping[str, Any] | None,
    images: Sequence[str | bytes] | None,
    raw: bool,
    think: bool | str | None,
) -> Call:
    body = _put(
        {"model": model, "prompt": prompt, "stream": True},
        system=system,
        template=template,
        options=dict(options) if options is not None else None,
        keep_alive=keep_alive,
        format=format if not isinstance(format, Mapping) else dict(format),
        images=_images(images),
        think=think,
    )
    if raw:
        body["raw"] = True
    return Call("POST", "/api/generate", body, stream=True, done_key="done")


def chat_call(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    options: Mapping[str, Any] | None,
    keep_alive: KeepAlive | None,
    format: str | Mapping[str, Any] | None,
    tools: Sequence[Mapping[str, Any]] | None,
    think: bool | str | None,
) -> Call:
    body = _put(
        {"model": model, "messages": [dict(m) for m in messages], "stream": True},
        options=dict(options) if options is not None else None,
        keep_alive=keep_alive,
        format=format if not isinstance(format, Mapping) else dict(format),
        tools=[dict(t) for t in tools] if tools is not None else None,
        think=think,
    )
    return Call("POST", "/api/chat", body, stream=True, done_key="done")


def system_call(model: str | None, num_ctx: int | None) -> Call:
    """`GET /api/system`, with `?model=&num_ctx=` when a fit is asked for."""
    query = {} if model is None else {"model": model}
    if model is not None and num_ctx is not None:
        query["num_ctx"] = str(num_ctx)
    return Call("GET", "/api/system" + (f"?{urlencode(query)}" if query else ""))


def pull_call(path: str, model: str, insecure: bool) -> Call:
    """`/api/pull` or `/api/push`."""
    body: JSONObject = {"model": model, "stream": True}
    if insecure:
        body["insecure"] = True
    return Call("POST", path, body, stream=True)


def create_call(model: str, fields: Mapping[str, Any]) -> Call:
    """`/api/create`; `fields` are the body's other keys (`from`, `files`...), None ones dropped."""
    body = _put({"model": model}, **{k: v for k, v in fields.items() if k != "model"})
    body["stream"] = True
    return Call("POST", "/api/create", body, stream=True)


def model_call(method: str, path: str, **body: Any) -> Call:
    """A plain request with a small JSON body (show, delete, copy)."""
    return Call(method, path, _put({}, **body))


def blob_call(method: str, digest: str) -> Call:
    return Call(method, f"/api/blobs/{check_digest(digest)}")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_BODY_LIMIT else text[: _ERROR_BODY_LIMIT - 3] + "..."


def decode_error(status: int, content: bytes, url: str) -> CorralError:
    """Turn a non-2xx answer into the error it describes.

    `{"error": msg, "code"?: c}` (corral's and Ollama's shape) becomes
    `error_for_code(c, msg, status)`; OpenAI's `{"error": {"message": ...}}` is
    read too. An answer with no JSON error at all is a `ProtocolError` naming the
    status, since whatever answered is not speaking corral's API.
    """
    text = content.decode("utf-8", "replace")
    try:
        payload = json.loads(text) if text.strip() else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        if isinstance(error, str) and error:
            code = payload.get("code")
            return error_for_code(code if isinstance(code, str) else None, error, status)
    if not text.strip():
        return error_for_code(None, f"corral at {url} answered HTTP {status}", status)
    return ProtocolError(f"corral at {url} answered HTTP {status}: {_snippet(text)!r}")


def decode_object(content: bytes, url: str) -> JSONObject:
    """The JSON object of a 2xx answer.

    Raises:
        ProtocolError: the body is not a JSON object.
    """
    text = content.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(
            f"corral at {url} sent a response that is not JSON: {_snippet(text)!r}"
        ) from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"corral at {url} sent JSON that is not an object: {_snippet(text)!r}")
    return payload


def decode_line(line: str, url: str) -> JSONObject | None:
    """One NDJSON line of a stream; None for a blank line.

    Raises:
        CorralError: the line is an `{"error": ...}` object (the class its code names).
        ProtocolError: the line is not a JSON object.
    """
    if not line.strip():
        return None
    try:
        payload = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(
            f"corral at {url} sent a stream line that is not JSON: {_snippet(line)!r}"
        ) from exc
    if not isinstance(payload, dict):
        raise ProtocolError(
            f"corral at {url} sent a stream line that is not an object: {_snippet(line)!r}"
        )
    error = payload.get("error")
    if error is not None:
        code = payload.get("code")
        status = payload.get("status")
        raise error_for_code(
            code if isinstance(code, str) else None,
            str(error) or "the daemon reported an error without a message",
            status if isinstance(status, int) else 500,
        )
    return payload


def check_finished(call: Call, finished: bool, url: str) -> None:
    """A generate/chat stream must end with its `done` object; anything shorter was cut off.

    Raises:
        ProtocolError: the stream ended before the final object.
    """
    if call.done_key is not None and not finished:
        raise ProtocolError(f"the stream from corral at {url} ended before the model finished")


@contextmanager
def map_transport_errors(url: str) -> Iterator[None]:
    """Translate httpx's exceptions into corral's, as httpx maps httpcore's.

    Connection refused and connect timeouts say how to start the daemon; a
    dropped connection or a read timeout say what happened. All are
    `DaemonUnavailable` (exit 1), so the CLI prints one line.
    """
    try:
        yield
    except httpx.ConnectError as exc:
        raise DaemonUnavailable(
            f"could not connect to corral at {url}; is 'corral serve' running?"
        ) from exc
    except httpx.ConnectTimeout as exc:
        raise DaemonUnavailable(
            f"could not connect to corral at {url}; is 'corral serve' running?"
        ) from exc
    except httpx.TimeoutException as exc:
        raise DaemonUnavailable(
            f"corral at {url} did not answer in time ({exc or 'timeout'})"
        ) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise DaemonUnavailable(
            f"lost the connection to corral at {url} ({exc or 'closed'})"
        ) from exc
    except httpx.DecodingError as exc:
        raise ProtocolError(
            f"corral at {url} sent a body that could not be decoded ({exc})"
        ) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ConfigError(f"cannot reach corral at {url!r}: {exc}") from exc
    except httpx.TransportError as exc:
        raise DaemonUnavailable(f"could not talk to corral at {url} ({exc})") from exc

"""`AsyncClient`: the same surface as `Client`, on `httpx.AsyncClient`, for the REPL and TUI.

Streaming methods are async generators; cancelling the task that iterates one
closes the HTTP response, which the daemon sees as the client going away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from corral import envconfig
from corral.client._base import (
    HEARTBEAT_TIMEOUT,
    STREAM_TIMEOUT,
    Call,
    JSONObject,
    KeepAlive,
    base_url,
    blob_call,
    chat_call,
    check_finished,
    create_call,
    decode_error,
    decode_line,
    decode_object,
    default_headers,
    generate_call,
    map_transport_errors,
    model_call,
    pull_call,
    request_timeout,
    system_call,
)
from corral.client._upload import CHUNK_SIZE, open_blob
from corral.errors import ClientError, ProtocolError

__all__ = ["AsyncClient"]


class AsyncClient:
    """An asyncio connection to the corral daemon; see `Client` for the parameters."""

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url(host)
        loopback = (envconfig.host() if host is None else envconfig.parse_host(host)).is_loopback
        self._http = httpx.AsyncClient(
            base_url=self._url,
            headers=default_headers(),
            timeout=request_timeout(timeout),
            transport=transport,
            trust_env=not loopback,
        )

    @property
    def base_url(self) -> str:
        """The daemon's base URL (`http://127.0.0.1:11434`)."""
        return self._url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- transport ----------------------------------------------------------------

    async def _send(self, call: Call) -> httpx.Response:
        with map_transport_errors(self._url):
            response = await self._http.request(call.method, call.path, json=call.body)
        if not response.is_success:
            raise decode_error(response.status_code, response.content, self._url)
        return response

    async def _object(self, call: Call) -> JSONObject:
        return decode_object((await self._send(call)).content, self._url)

    async def _stream(self, call: Call) -> AsyncIterator[JSONObject]:
        with map_transport_errors(self._url):
            async with self._http.stream(
                call.method, call.path, json=call.body, timeout=STREAM_TIMEOUT
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise decode_error(response.status_code, response.content, self._url)
                finished = False
                async for line in response.aiter_lines():
                    item = decode_line(line, self._url)
                    if item is None:
                        continue
                    if call.done_key is not None and item.get(call.done_key) is True:
                        finished = True
                    yield item
        check_finished(call, finished, self._url)

    # -- endpoints ----------------------------------------------------------------

    async def heartbeat(self) -> bool:
        """True when the daemon answers `HEAD /`; never raises for an absent daemon."""
        try:
            with map_transport_errors(self._url):
                response = await self._http.request("HEAD", "/", timeout=HEARTBEAT_TIMEOUT)
        except ClientError:
            return False
        return response.is_success

    async def version(self) -> str:
        """The daemon's version (`GET /api/version`)."""
        version = (await self._object(Call("GET", "/api/version"))).get("version")
        if not isinstance(version, str):
            raise ProtocolError(f"corral at {self._url} sent no version string")
        return version

    async def list(self) -> JSONObject:
        """Local models (`GET /api/tags`): `{"models": [...]}`."""
        return await self._object(Call("GET", "/api/tags"))

    async def ps(self) -> JSONObject:
        """Loaded models (`GET /api/ps`): `{"models": [...]}`."""
        return await self._object(Call("GET", "/api/ps"))

    async def system(self, model: str | None = None, *, num_ctx: int | None = None) -> JSONObject:
        """The daemon machine's GPUs, RAM and CPU (`GET /api/system`, a corral extension).

        With `model`, the answer's `fit` says the context it would load with (`num_ctx`
        if given, else the model's or the daemon's default) and the bytes that needs.
        """
        return await self._object(system_call(model, num_ctx))

    async def show(self, model: str, *, verbose: bool = False) -> JSONObject:
        """A model's details, Modelfile, parameters and metadata (`POST /api/show`)."""
        return await self._object(
            model_call("POST", "/api/show", model=model, verbose=verbose or None)
        )

    async def delete(self, model: str) -> None:
        """Delete a model (`DELETE /api/delete`)."""
        await self._send(model_call("DELETE", "/api/delete", model=model))

    async def copy(self, source: str, destination: str) -> None:
        """Copy a model under a new name (`POST /api/copy`)."""
        await self._send(model_call("POST", "/api/copy", source=source, destination=destination))

    def generate(
        self,
        model: str,
        prompt: str = "",
        *,
        system: str | None = None,
        template: str | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: KeepAlive | None = None,
        format: str | Mapping[str, Any] | None = None,
        images: Sequence[str | bytes] | None = None,
        raw: bool = False,
        think: bool | str | None = None,
    ) -> AsyncIterator[JSONObject]:
        """Stream a completion (`POST /api/generate`), one object per NDJSON line."""
        return self._stream(
            generate_call(
                model,
                prompt,
                system=system,
                template=template,
                options=options,
                keep_alive=keep_alive,
                format=format,
                images=images,
                raw=raw,
                think=think,
            )
        )

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        keep_alive: KeepAlive | None = None,
        format: str | Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        think: bool | str | None = None,
    ) -> AsyncIterator[JSONObject]:
        """Stream a chat answer (`POST /api/chat`), one object per NDJSON line."""
        return self._stream(
            chat_call(
                model,
                messages,
                options=options,
                keep_alive=keep_alive,
                format=format,
                tools=tools,
                think=think,
            )
        )

    def pull(self, model: str, *, insecure: bool = False) -> AsyncIterator[JSONObject]:
        """Stream the progress of a pull (`POST /api/pull`)."""
        return self._stream(pull_call("/api/pull", model, insecure))

    def push(self, model: str, *, insecure: bool = False) -> AsyncIterator[JSONObject]:
        """Stream the progress of a push (`POST /api/push`)."""
        return self._stream(pull_call("/api/push", model, insecure))

    def create(self, model: str, **fields: Any) -> AsyncIterator[JSONObject]:
        """Stream the progress of a create (`POST /api/create`); see `Client.create`."""
        if "from_" in fields:
            fields["from"] = fields.pop("from_")
        return self._stream(create_call(model, fields))

    async def blob_exists(self, digest: str) -> bool:
        """Whether the daemon holds blob `digest` (`HEAD /api/blobs/<digest>`)."""
        call = blob_call("HEAD", digest)
        with map_transport_errors(self._url):
            response = await self._http.request(call.method, call.path)
        if response.status_code == 404:
            return False
        if not response.is_success:
            raise decode_error(response.status_code, response.content, self._url)
        return True

    async def upload_blob(
        self, digest: str, path: Path, progress: Callable[[int], None] | None = None
    ) -> None:
        """Upload a file as blob `digest`; see `Client.upload_blob`."""
        call = blob_call("POST", digest)
        handle, size = await asyncio.to_thread(open_blob, path)

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                    yield chunk
                    sent += len(chunk)
                    if progress is not None:
                        progress(sent)
            finally:
                handle.close()

        with map_transport_errors(self._url):
            response = await self._http.request(
                call.method,
                call.path,
                content=chunks(),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                timeout=STREAM_TIMEOUT,
            )
        if not response.is_success:
            raise decode_error(response.status_code, response.content, self._url)

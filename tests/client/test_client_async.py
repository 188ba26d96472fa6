"""`corral.client.AsyncClient`: the same behaviour as `Client`, on asyncio."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.client import AsyncClient
from corral.errors import DaemonUnavailable, ModelNotFound, ProtocolError, QueueFull


def ndjson(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def make_client(handler: Any) -> AsyncClient:
    return AsyncClient("127.0.0.1:11434", transport=httpx.MockTransport(handler))


async def test_list_and_show() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.url.path == "/api/show":
            assert json.loads(request.content) == {"model": "m", "verbose": True}
            return httpx.Response(200, json={"details": {}})
        return httpx.Response(200, json={"models": []})

    async with make_client(handler) as client:
        assert await client.list() == {"models": []}
        assert await client.show("m", verbose=True) == {"details": {}}
    assert seen == [("GET", "/api/tags"), ("POST", "/api/show")]


async def test_error_code_is_decoded() -> None:
    client = make_client(
        lambda r: httpx.Response(
            404, json={"error": "model 'm' not found", "code": "model_not_found"}
        )
    )
    with pytest.raises(ModelNotFound, match="model 'm' not found"):
        await client.delete("m")


async def test_chat_streams_and_raises_mid_stream_errors() -> None:
    body = ndjson(
        {"message": {"content": "a"}, "done": False}, {"error": "server busy", "status": 503}
    )
    client = make_client(lambda r: httpx.Response(200, content=body))
    received = []
    with pytest.raises(QueueFull, match="server busy"):
        async for chunk in client.chat("m", [{"role": "user", "content": "hi"}]):
            received.append(chunk)
    assert received == [{"message": {"content": "a"}, "done": False}]


async def test_generate_cut_off_is_a_protocol_error() -> None:
    client = make_client(
        lambda r: httpx.Response(200, content=ndjson({"response": "a", "done": False}))
    )
    with pytest.raises(ProtocolError, match="ended before"):
        async for _ in client.generate("m", "hi"):
            pass


async def test_generate_complete_stream() -> None:
    body = ndjson({"response": "a", "done": False}, {"response": "", "done": True})
    client = make_client(lambda r: httpx.Response(200, content=body))
    chunks = [c async for c in client.generate("m", "hi")]
    assert [c["done"] for c in chunks] == [False, True]


async def test_connection_refused_is_daemon_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AsyncClient(f"127.0.0.1:{port}")
    assert await client.heartbeat() is False
    with pytest.raises(DaemonUnavailable, match="is 'corral serve' running"):
        await client.ps()
    with pytest.raises(DaemonUnavailable):
        async for _ in client.pull("m"):
            pass
    await client.aclose()


async def test_blob_round_trip(tmp_path: Path) -> None:
    digest = "sha256:" + "0" * 64
    path = tmp_path / "blob"
    path.write_bytes(b"hello" * 1000)
    uploads: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404 if not uploads else 200)
        uploads.append(await request.aread())
        return httpx.Response(201)

    client = make_client(handler)
    assert await client.blob_exists(digest) is False
    progress: list[int] = []
    await client.upload_blob(digest, path, progress.append)
    assert uploads == [b"hello" * 1000]
    assert progress == [5000]
    assert await client.blob_exists(digest) is True


def test_sync_and_async_clients_have_the_same_surface() -> None:
    import inspect

    import corral.client
    from corral.client import Client

    assert corral.client.__all__ == ["AsyncClient", "Client"]

    def public(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_") and name not in {"close", "aclose"}
        }

    assert public(Client) == public(AsyncClient)
    assert set(public(Client)) >= {
        "heartbeat",
        "version",
        "list",
        "ps",
        "show",
        "delete",
        "copy",
        "generate",
        "chat",
        "pull",
        "push",
        "create",
        "blob_exists",
        "upload_blob",
    }

"""`system()` on both clients: the fit query goes out only when a model is asked about."""

from __future__ import annotations

import httpx

from corral.client import AsyncClient, Client


def _recording(seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.copy_with(scheme="http", host="x", port=None)))
        return httpx.Response(200, json={"gpus": []})

    return httpx.MockTransport(handler)


def test_sync_system_query() -> None:
    seen: list[str] = []
    with Client("127.0.0.1:11434", transport=_recording(seen)) as client:
        client.system()
        client.system("team/my model:v1", num_ctx=2048)
        client.system(num_ctx=2048)  # no model: no fit asked, num_ctx is not sent
    assert seen == [
        "http://x/api/system",
        "http://x/api/system?model=team%2Fmy+model%3Av1&num_ctx=2048",
        "http://x/api/system",
    ]


async def test_async_system_query() -> None:
    seen: list[str] = []
    async with AsyncClient("127.0.0.1:11434", transport=_recording(seen)) as client:
        await client.system("smollm2:135m")
    assert seen == ["http://x/api/system?model=smollm2%3A135m"]

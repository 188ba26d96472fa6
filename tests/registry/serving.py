"""A real registry server for the client's tests, already holding one blob."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from corral.registry.server import create_registry_app

__all__ = ["serve_with_blob"]


async def serve_with_blob(
    root: Path, repository: str, data: bytes, digest: str, middleware: Any
) -> TestServer:
    """A started registry in `root`, `middleware` in front, with `data` uploaded to
    `repository` (the caller closes it)."""
    server = TestServer(create_registry_app(root, middlewares=(middleware,)))
    await server.start_server()
    async with ClientSession() as seeding:
        url = server.make_url(f"/v2/{repository}/blobs/uploads/?digest={digest}")
        async with seeding.post(url, data=data) as response:
            assert response.status == 201
    return server

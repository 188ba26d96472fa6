"""The push side of a blob: a cross-repository mount when the layer names its source repository
on the same registry, a full upload (POST, PATCH, PUT) otherwise, against the real registry app."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from corral.names import ModelName
from corral.registry.client import BlobUpload, RegistryRef, RegistrySession
from corral.store import MEDIA_MODEL, Layer, Store
from tests.registry.serving import serve_with_blob

DATA = os.urandom(300_000)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
Calls = list[tuple[str, dict[str, str]]]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[TestServer, Calls]]:
    """The registry with DATA already in `team/a`; records each upload request's method."""
    methods: Calls = []

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if "/blobs/uploads/" in request.path:
            methods.append((request.method, dict(request.query)))
        return await handler(request)

    server = await serve_with_blob(tmp_path / "registry", "team/a", DATA, DIGEST, record)
    methods.clear()
    yield server, methods
    await server.close()


async def _push(server: TestServer, tmp_path: Path, layer: Layer) -> BlobUpload:
    store = Store(tmp_path / "models")
    store.blobs.write_bytes(DATA)
    name = ModelName.parse(f"127.0.0.1:{server.port}/team/b:v1")
    async with RegistrySession(RegistryRef(name, insecure=True)) as session:
        upload = BlobUpload(session, store.blobs, layer)
        await upload.run()
    return upload


async def test_a_layer_from_another_repository_is_mounted_not_sent(
    served: tuple[TestServer, Calls], tmp_path: Path
) -> None:
    server, methods = served
    source = f"127.0.0.1:{server.port}/team/a:v1"
    upload = await _push(server, tmp_path, Layer(MEDIA_MODEL, DIGEST, len(DATA), from_=source))
    assert upload.mounted
    assert methods == [("POST", {"mount": DIGEST, "from": "team/a"})]
    url = server.make_url(f"/v2/team/b/blobs/{DIGEST}")
    async with ClientSession() as check, check.get(url) as response:
        assert await response.read() == DATA


@pytest.mark.parametrize("origin", [None, "elsewhere.example/team/a:v1"])
async def test_without_a_source_on_this_registry_the_bytes_are_uploaded(
    served: tuple[TestServer, Calls], tmp_path: Path, origin: str | None
) -> None:
    server, methods = served
    upload = await _push(server, tmp_path, Layer(MEDIA_MODEL, DIGEST, len(DATA), from_=origin))
    assert not upload.mounted
    assert methods[0] == ("POST", {})
    assert methods[-1] == ("PUT", {"digest": DIGEST})
    assert ("PATCH", {}) in methods

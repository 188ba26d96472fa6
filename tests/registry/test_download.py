"""The blob download engine in process: several ranged parts, resume from part files,
and a resumed file whose bytes went bad, against the real registry app."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from corral.errors import DigestMismatch
from corral.names import ModelName
from corral.registry.client import (
    BlobDownload,
    RegistryRef,
    RegistrySession,
    download as download_module,
)
from corral.registry.server import create_registry_app
from corral.store import MEDIA_MODEL, Layer, Store

DATA = os.urandom(3 * 1024 * 1024 + 12345)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
PART = 1024 * 1024


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[TestServer, list[str]]]:
    ranges: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if "/blobs/" in request.path:
            ranges.append(request.headers.get("Range", ""))
        return await handler(request)

    app = create_registry_app(tmp_path / "registry", middlewares=(record,))
    server = TestServer(app)
    await server.start_server()
    async with ClientSession() as seeding:
        url = server.make_url(f"/v2/team/m/blobs/uploads/?digest={DIGEST}")
        async with seeding.post(url, data=DATA) as response:
            assert response.status == 201
    ranges.clear()
    yield server, ranges
    await server.close()


def _download(server: TestServer, store: Store) -> tuple[RegistrySession, Layer]:
    name = ModelName.parse(f"127.0.0.1:{server.port}/team/m:v1")
    return RegistrySession(RegistryRef(name, insecure=True)), Layer(MEDIA_MODEL, DIGEST, len(DATA))


async def test_parts_download_in_parallel_and_verify(
    served: tuple[TestServer, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ranges = served
    monkeypatch.setattr(download_module, "part_size", lambda total: PART)
    store = Store(tmp_path / "models")
    session, layer = _download(server, store)
    async with session:
        await BlobDownload(session, store.blobs, layer).run()
    store.blobs.verify(DIGEST)
    data_ranges = sorted(r for r in ranges if r != "bytes=0-0")
    assert data_ranges == sorted(
        f"bytes={o}-{min(o + PART, len(DATA)) - 1}" for o in range(0, len(DATA), PART)
    )
    assert sorted(p.name for p in store.blobs.root.iterdir()) == [DIGEST.replace(":", "-")]


def _seed_partial(store: Store, completed: list[int], *, corrupt: bool = False) -> None:
    partial = store.blobs.partial_path(DIGEST)
    partial.parent.mkdir(parents=True, exist_ok=True)
    content = bytearray(len(DATA))
    for index, done in enumerate(completed):
        offset = index * PART
        content[offset : offset + done] = DATA[offset : offset + done]
    if corrupt:
        content[10] ^= 0xFF
    partial.write_bytes(bytes(content))
    for index, done in enumerate(completed):
        size = min(PART, len(DATA) - index * PART)
        state = {"N": index, "Offset": index * PART, "Size": size, "Completed": done}
        store.blobs.part_state_path(DIGEST, index).write_text(json.dumps(state))


async def test_resume_asks_only_for_the_missing_bytes(
    served: tuple[TestServer, list[str]], tmp_path: Path
) -> None:
    server, ranges = served
    store = Store(tmp_path / "models")
    completed = [PART, 1000, 0, 12345]  # part 0 done, part 1 begun, part 3 (the tail) done
    _seed_partial(store, completed)
    session, layer = _download(server, store)
    download = BlobDownload(session, store.blobs, layer)
    async with session:
        await download.run()
    assert download.resumed == PART + 1000 + 12345
    store.blobs.verify(DIGEST)
    data_ranges = sorted(r for r in ranges if r != "bytes=0-0")
    assert data_ranges == [
        f"bytes={PART + 1000}-{2 * PART - 1}",
        f"bytes={2 * PART}-{3 * PART - 1}",
    ]
    assert not list(store.blobs.root.glob("*-partial*"))


async def test_resumed_bytes_that_went_bad_fail_the_digest_and_are_removed(
    served: tuple[TestServer, list[str]], tmp_path: Path
) -> None:
    server, _ = served
    store = Store(tmp_path / "models")
    _seed_partial(store, [PART, 0, 0, 0], corrupt=True)
    session, layer = _download(server, store)
    async with session:
        with pytest.raises(DigestMismatch, match="file must be downloaded again"):
            await BlobDownload(session, store.blobs, layer).run()
    assert list(store.blobs.root.iterdir()) == []


async def test_part_files_that_do_not_describe_the_blob_start_over(
    served: tuple[TestServer, list[str]], tmp_path: Path
) -> None:
    server, ranges = served
    store = Store(tmp_path / "models")
    _seed_partial(store, [PART, 0, 0, 0])
    store.blobs.part_state_path(DIGEST, 1).write_text('{"N": 1, "Offset": 5}')  # malformed
    session, layer = _download(server, store)
    async with session:
        await BlobDownload(session, store.blobs, layer).run()
    store.blobs.verify(DIGEST)
    assert f"bytes=0-{len(DATA) - 1}" in ranges

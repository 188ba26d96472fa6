"""The blob download engine in process: several ranged parts, resume from part files,
and a resumed file whose bytes went bad, against the real registry app."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from corral.errors import DigestMismatch, RegistryError, StoreError
from corral.names import ModelName
from corral.registry.client import (
    BlobDownload,
    RegistryRef,
    RegistrySession,
    download as download_module,
)
from corral.store import MEDIA_MODEL, Layer, Store
from tests.registry.serving import serve_with_blob
from tests.waiting import wait_for

DATA = os.urandom(3 * 1024 * 1024 + 12345)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
PART = 1024 * 1024


Refusal = Callable[[web.Request], web.StreamResponse | None]


@pytest.fixture
def refusals() -> list[Refusal]:
    """Hooks a test adds to answer a blob request itself (returning None passes it on)."""
    return []


@pytest.fixture
async def served(
    tmp_path: Path, refusals: list[Refusal]
) -> AsyncIterator[tuple[TestServer, list[str]]]:
    ranges: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if "/blobs/" in request.path:
            ranges.append(request.headers.get("Range", ""))
            for refusal in refusals:
                if (answer := refusal(request)) is not None:
                    return answer
        return await handler(request)

    server = await serve_with_blob(tmp_path / "registry", "team/m", DATA, DIGEST, record)
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


async def test_an_expired_storage_link_is_resolved_again(
    served: tuple[TestServer, list[str]],
    refusals: list[Refusal],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A data request that meets a 401 (a signed link that expired) re-resolves the URL."""
    server, ranges = served
    refused: list[str] = []

    def expire_once(request: web.Request) -> web.StreamResponse | None:
        wanted = request.headers.get("Range", "")
        if wanted in ("", "bytes=0-0") or refused:
            return None
        refused.append(wanted)
        return web.Response(status=401, text="link expired")

    refusals.append(expire_once)
    monkeypatch.setattr(download_module, "part_size", lambda total: len(DATA))
    store = Store(tmp_path / "models")
    session, layer = _download(server, store)
    async with session:
        await BlobDownload(session, store.blobs, layer).run()
    store.blobs.verify(DIGEST)
    assert refused == [f"bytes=0-{len(DATA) - 1}"]
    assert ranges.count("bytes=0-0") == 2  # resolved, then resolved again after the 401


async def test_a_full_disk_fails_before_any_byte_moves(
    served: tuple[TestServer, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ranges = served

    def no_room(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_room)
    store = Store(tmp_path / "models")
    session, layer = _download(server, store)
    async with session:
        with pytest.raises(StoreError, match=f"cannot make room for {DIGEST}.*No space left"):
            await BlobDownload(session, store.blobs, layer).run()
    assert ranges == []
    assert not store.blobs.exists(DIGEST)


async def test_without_fallocate_the_partial_file_is_sparse_and_the_pull_works(
    served: tuple[TestServer, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served

    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    store = Store(tmp_path / "models")
    session, layer = _download(server, store)
    async with session:
        await BlobDownload(session, store.blobs, layer).run()
    store.blobs.verify(DIGEST)


async def test_a_cancelled_download_stops_its_reads_and_keeps_what_arrived(
    tmp_path: Path,
) -> None:
    """Cancelling (the client went away) ends the blocked socket reads at once."""
    sent = asyncio.Event()

    async def trickle(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Range") == "bytes=0-0":
            return web.Response(status=206, body=DATA[:1])
        response = web.StreamResponse(status=206)
        response.content_length = len(DATA)
        await response.prepare(request)
        await response.write(DATA[:PART])
        sent.set()
        await asyncio.sleep(3600)  # then silence, well inside the read timeout
        return response

    app = web.Application()
    app.router.add_get("/v2/team/m/blobs/{digest}", trickle)
    server = TestServer(app)
    await server.start_server()
    try:
        store = Store(tmp_path / "models")
        name = ModelName.parse(f"127.0.0.1:{server.port}/team/m:v1")
        # A read timeout far past the test's own: only the abort can end the read.
        session = RegistrySession(RegistryRef(name, insecure=True), timeout=3600)
        layer = Layer(MEDIA_MODEL, DIGEST, len(DATA))
        async with session:
            download = BlobDownload(session, store.blobs, layer)
            task = asyncio.create_task(download.run())
            await sent.wait()
            assert await asyncio.to_thread(wait_for, lambda: download.completed >= PART)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert not [t for t in threading.enumerate() if t.name.startswith("corral-")]
        state = json.loads(store.blobs.part_state_path(DIGEST, 0).read_text())
        assert state["Completed"] == PART
        assert not store.blobs.exists(DIGEST)
    finally:
        await server.close()


async def test_a_registry_that_keeps_refusing_the_bytes_fails_with_its_answer(
    served: tuple[TestServer, list[str]], refusals: list[Refusal], tmp_path: Path
) -> None:
    def forbid(request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("Range") == "bytes=0-0":
            return None
        return web.json_response(
            {"errors": [{"code": "DENIED", "message": "quota exceeded"}]}, status=429
        )

    refusals.append(forbid)
    server, _ = served
    store = Store(tmp_path / "models")
    session, layer = _download(server, store)
    async with session:
        with pytest.raises(RegistryError, match="HTTP 429: DENIED: quota exceeded"):
            await BlobDownload(session, store.blobs, layer).run()
    assert not store.blobs.exists(DIGEST)


async def test_a_link_that_stays_refused_after_resolving_again_fails_clearly(
    served: tuple[TestServer, list[str]], refusals: list[Refusal], tmp_path: Path
) -> None:
    def forbid(request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("Range") == "bytes=0-0":
            return None
        return web.Response(status=403, text="signature expired")

    refusals.append(forbid)
    server, ranges = served
    store = Store(tmp_path / "models")
    session, layer = _download(server, store)
    async with session:
        with pytest.raises(RegistryError, match=f"download of {DIGEST} bytes .*HTTP 403"):
            await BlobDownload(session, store.blobs, layer).run()
    assert ranges.count("bytes=0-0") == 3  # resolved, then again after each refusal
    assert not store.blobs.exists(DIGEST)

"""Downloading one blob: parallel ranged parts, resumable, verified before it is visible.

The bytes collect in `blobs/sha256-<hex>-partial`; each part's progress is kept in
`sha256-<hex>-partial-<N>` as Ollama does (`{"N","Offset","Size","Completed"}`), so a
pull cut off by a crash, a kill or a dropped registry continues where it stopped and
only the missing bytes move. A thread hashes the file as its prefix completes, so the
check costs no extra pass; the blob is renamed into place only when the sha256 and the
size match. A mismatch deletes the partial files. An exclusive `flock` on the partial
file makes a second pull of the same blob (in this process or another) wait for the
first instead of downloading it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from corral.errors import DigestMismatch, RegistryError
from corral.registry.client.transport import RegistrySession, error_text
from corral.registry.protocol import part_size
from corral.store.blobs import BlobStore
from corral.store.manifests import Layer

__all__ = ["BlobDownload"]

logger = logging.getLogger(__name__)

_WRITE_SIZE = 4 << 20
_STATE_EVERY = 16 << 20
_RETRIES = 2
_LOCK_POLL = 0.2
_HASH_MEMORY = 64 << 20
"""Most bytes waiting in memory for the hasher; past that it reads them back from the file."""
_SYNC_EVERY = 16 << 20
"""Start writeback after this many bytes, so the fsync before the rename is short."""


@dataclass
class _Part:
    index: int
    offset: int
    size: int
    completed: int = 0

    @property
    def done(self) -> bool:
        return self.completed >= self.size

    def state(self) -> bytes:
        doc = {
            "N": self.index,
            "Offset": self.offset,
            "Size": self.size,
            "Completed": self.completed,
        }
        return json.dumps(doc).encode()


def _plan(total: int) -> list[_Part]:
    step = part_size(total)
    parts = [
        _Part(i, offset, min(step, total - offset))
        for i, offset in enumerate(range(0, total, step))
    ]
    return parts or [_Part(0, 0, 0)]


class _Writer:
    """Writes parts into the partial file on a few threads and hashes it in order on another.

    A batch written at the hash cursor goes to the hasher from memory; bytes of a later
    part wait on disk and are read back once everything before them is there (and
    whenever the hasher has too much in memory already). Writeback to disk is started as
    the file fills, so the final fsync before the rename is short.
    """

    def __init__(self, fd: int, parts: list[_Part], total: int) -> None:
        self._fd = fd
        self._parts = parts
        self._total = total
        self._sha = hashlib.sha256()
        self._lock = threading.Lock()
        self._queued = 0  # bytes handed to the hasher, from memory or as a file range
        self._in_memory = 0
        self._unsynced = 0
        self._syncing = False
        self._queue: queue.SimpleQueue[tuple[int, int, list[bytes] | None] | None] = (
            queue.SimpleQueue()
        )
        self._error: BaseException | None = None
        self.hashed = 0
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="corral-pull")
        self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-sync")
        self._hasher = threading.Thread(target=self._hash_loop, name="corral-hash", daemon=True)
        self._hasher.start()

    def _watermark(self) -> int:
        end = 0
        for part in self._parts:
            end = part.offset + part.completed
            if not part.done:
                break
        return end

    def write(self, part: _Part, chunks: list[bytes], offset: int) -> int:
        """(Pool thread.) Store `chunks` at `offset` for `part`; returns bytes written.

        A part has at most one batch in flight, so its batches land in order.
        """
        written = _pwritev_all(self._fd, chunks, offset)
        sync = False
        with self._lock:
            part.completed += written
            if offset == self._queued and self._in_memory < _HASH_MEMORY:
                self._queue.put((offset, written, chunks))
                self._queued += written
                self._in_memory += written
            mark = self._watermark()
            if mark > self._queued:
                self._queue.put((self._queued, mark - self._queued, None))
                self._queued = mark
            self._unsynced += written
            if self._unsynced >= _SYNC_EVERY and not self._syncing:
                self._unsynced, self._syncing, sync = 0, True, True
        if sync:
            self._syncer.submit(self._sync)
        return written

    def _sync(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError:
            pass  # the fsync before the rename reports real trouble
        finally:
            with self._lock:
                self._syncing = False

    def _hash_loop(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                offset, length, chunks = item
                if chunks is not None:
                    for chunk in chunks:
                        self._sha.update(chunk)
                    with self._lock:
                        self._in_memory -= length
                else:
                    done = 0
                    while done < length:
                        piece = os.pread(self._fd, min(_WRITE_SIZE, length - done), offset + done)
                        if not piece:
                            raise OSError("the partial file is shorter than its completed parts")
                        self._sha.update(piece)
                        done += len(piece)
                self.hashed += length
        except BaseException as exc:  # reported by finish()
            self._error = exc

    def finish(self) -> str:
        """(Any thread.) Wait for the hash of the whole file and return its digest.

        Raises:
            OSError: the file could not be read back, or is incomplete.
        """
        self.close()
        if self._error is not None:
            raise self._error
        if self.hashed != self._total:
            raise OSError("the partial file is incomplete")
        return "sha256:" + self._sha.hexdigest()

    def close(self) -> None:
        """(Any thread.) Stop the hasher once it has hashed what was queued; wait for writes."""
        self.pool.shutdown(wait=True)
        if self._hasher.is_alive():
            self._queue.put(None)
            self._hasher.join()
        self._syncer.shutdown(wait=True)


class BlobDownload:
    """Fetches one layer's blob into the store.

    Args:
        session: the registry conversation (auth, redirects).
        blobs: the store's blobs directory.
        layer: the digest and size the manifest promises.
    """

    def __init__(self, session: RegistrySession, blobs: BlobStore, layer: Layer) -> None:
        self.session = session
        self.blobs = blobs
        self.layer = layer
        self.parts: list[_Part] = []
        self.resumed = 0
        """Bytes already on disk from an earlier, interrupted pull."""

    @property
    def completed(self) -> int:
        return sum(part.completed for part in self.parts)

    async def run(self) -> None:
        """Download, verify and commit the blob (nothing to do when it is already stored).

        Raises:
            DigestMismatch: the bytes hash to another digest; the partial files are gone.
            RegistryError: the registry failed or refused.
            StoreError: the store could not be written.
        """
        digest = self.layer.digest
        if await asyncio.to_thread(self._stored):
            self.parts = [_Part(0, 0, self.layer.size, self.layer.size)]
            return
        partial = self.blobs.partial_path(digest)
        fd = await asyncio.to_thread(self._open_partial, partial)
        try:
            await self._lock(fd)
            while not await asyncio.to_thread(_same_file, fd, partial):
                # The pull we waited for renamed or discarded the file we opened.
                os.close(fd)
                fd = -1
                fd = await asyncio.to_thread(self._open_partial, partial)
                await self._lock(fd)
            if await asyncio.to_thread(self._stored):  # another pull finished it meanwhile
                await asyncio.to_thread(self._drop_stale_partial, fd, partial)
                self.parts = [_Part(0, 0, self.layer.size, self.layer.size)]
                return
            await self._download(fd, partial)
        finally:
            if fd >= 0:
                os.close(fd)  # closing releases the flock

    def _drop_stale_partial(self, fd: int, partial: Path) -> None:
        """Remove the partial file this wait created, if it is still ours (we hold its lock)."""
        if _same_file(fd, partial):
            os.unlink(partial)
            self._remove_states()

    def _stored(self) -> bool:
        return self.blobs.size(self.layer.digest) == self.layer.size

    def _open_partial(self, partial: Path) -> int:
        partial.parent.mkdir(parents=True, exist_ok=True)
        return os.open(partial, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)

    async def _lock(self, fd: int) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL)

    def _load_parts(self, fd: int) -> list[_Part]:
        """The saved parts, when they describe this blob; else a fresh plan (file emptied)."""
        total = self.layer.size
        parts: list[_Part] = []
        index = 0
        while True:
            path = self.blobs.part_state_path(self.layer.digest, index)
            try:
                doc = json.loads(path.read_bytes()[:4096])
                parts.append(
                    _Part(index, int(doc["Offset"]), int(doc["Size"]), int(doc["Completed"]))
                )
            except FileNotFoundError:
                break
            except (OSError, ValueError, KeyError, TypeError):
                parts = []
                break
            index += 1
        expected = 0
        for part in parts:
            if part.offset != expected or part.size <= 0 or not 0 <= part.completed <= part.size:
                parts = []
                break
            expected += part.size
        if not parts or expected != total or os.fstat(fd).st_size > total:
            self._remove_states()
            os.ftruncate(fd, 0)
            parts = _plan(total)
        os.ftruncate(fd, total)  # sparse: parts write at their own offsets
        return parts

    def _remove_states(self) -> None:
        index = 0
        while True:
            try:
                os.unlink(self.blobs.part_state_path(self.layer.digest, index))
            except FileNotFoundError:
                if index > 64:
                    return
            except OSError:
                return
            index += 1

    def _save_states(self) -> None:
        for part in self.parts:
            path = self.blobs.part_state_path(self.layer.digest, part.index)
            with contextlib.suppress(OSError):
                path.write_bytes(part.state())

    async def _download(self, fd: int, partial: Path) -> None:
        self.parts = await asyncio.to_thread(self._load_parts, fd)
        self.resumed = self.completed
        if self.resumed:
            logger.info(
                "resuming %s at %d of %d bytes", self.layer.digest, self.resumed, self.layer.size
            )
        writer = _Writer(fd, self.parts, self.layer.size)
        committed = False
        try:
            pending = [part for part in self.parts if not part.done]
            if pending:
                url = await self._direct_url()
                try:
                    async with asyncio.TaskGroup() as group:
                        for part in pending:
                            group.create_task(self._fetch_part(url, part, writer))
                except BaseExceptionGroup as group_error:
                    raise group_error.exceptions[0] from None
            actual = await asyncio.to_thread(writer.finish)
            if actual != self.layer.digest:
                await asyncio.to_thread(self._discard, partial)
                raise DigestMismatch(
                    f"digest mismatch, file must be downloaded again: want {self.layer.digest}, "
                    f"got {actual}"
                )
            await asyncio.to_thread(
                self.blobs.commit_file, partial, self.layer.digest, self.layer.size
            )
            committed = True
            await asyncio.to_thread(self._remove_states)
        finally:
            # Every write has finished before the caller closes the descriptor.
            await asyncio.to_thread(writer.close)
            if not committed and await asyncio.to_thread(partial.exists):
                await asyncio.to_thread(self._save_states)

    def _discard(self, partial: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        self._remove_states()

    async def _direct_url(self) -> str:
        """The URL the bytes come from, after the registry's redirects (to storage, say)."""
        url = self.session.ref.blob_url(self.layer.digest)
        response = await self.session.open("GET", url, headers={"Range": "bytes=0-0"})
        try:
            if response.status == 404:
                raise RegistryError(f"blob {self.layer.digest} not found on the registry")
            if response.status not in (200, 206):
                raise RegistryError(f"GET blob {self.layer.digest}: {await error_text(response)}")
            return str(response.url)
        finally:
            response.close()

    async def _fetch_part(self, url: str, part: _Part, writer: _Writer) -> None:
        for attempt in range(_RETRIES + 1):
            before = part.completed
            try:
                await self._fetch_range(url, part, writer)
                return
            except RegistryError:
                if attempt == _RETRIES:
                    raise
                # Back off, then continue from what arrived; a part that made progress
                # earns its retries back.
                await asyncio.sleep(0.5 * 2**attempt if part.completed == before else 0.1)

    async def _fetch_range(self, url: str, part: _Part, writer: _Writer) -> None:
        start = part.offset + part.completed
        end = part.offset + part.size - 1
        response = await self.session.open("GET", url, headers={"Range": f"bytes={start}-{end}"})
        loop = asyncio.get_running_loop()
        try:
            if response.status != 206 and not (response.status == 200 and start == 0):
                raise RegistryError(
                    f"GET blob {self.layer.digest} bytes {start}-{end}: "
                    f"{await error_text(response)}"
                )
            position = start  # next byte known to be written
            received = start  # next byte to arrive
            chunks: list[bytes] = []
            buffered = 0
            since_state = 0
            in_flight: asyncio.Future[int] | None = None

            async def settle() -> None:
                nonlocal in_flight, position, since_state
                if in_flight is None:
                    return
                done, in_flight = in_flight, None
                written = await done
                position += written
                since_state += written
                if since_state >= _STATE_EVERY:
                    since_state = 0
                    await asyncio.to_thread(self._save_states)

            async def flush() -> None:
                # Double-buffered: one batch is written while the next one arrives.
                nonlocal in_flight, chunks, buffered
                await settle()
                if chunks:
                    batch, chunks = chunks, []
                    in_flight = loop.run_in_executor(
                        writer.pool, writer.write, part, batch, received - buffered
                    )
                    buffered = 0

            try:
                async for chunk in response.content.iter_any():
                    room = end + 1 - received
                    if len(chunk) > room:
                        chunk = chunk[:room]
                    chunks.append(chunk)
                    buffered += len(chunk)
                    received += len(chunk)
                    if buffered >= _WRITE_SIZE:
                        await flush()
                    if received > end:
                        break
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                raise RegistryError(
                    f"download of {self.layer.digest} interrupted at byte {received}: "
                    f"{exc or type(exc).__name__}"
                ) from None
            finally:
                # Keep what arrived: a resumed pull starts after it.
                await flush()
                await settle()
            if position <= end:
                raise RegistryError(
                    f"download of {self.layer.digest} ended early at byte {position} of {end + 1}"
                )
        finally:
            response.close()


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _pwritev_all(fd: int, chunks: list[bytes], offset: int) -> int:
    total = sum(len(c) for c in chunks)
    done = os.pwritev(fd, chunks, offset)
    if done < total:  # short write: finish the rest the slow way
        data = memoryview(b"".join(chunks))
        while done < total:
            done += os.pwrite(fd, data[done:], offset + done)
    return total

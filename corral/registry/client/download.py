"""Downloading one blob: parallel ranged parts, resumable, verified before it is visible.

The bytes collect in `blobs/sha256-<hex>-partial`, whose space is reserved up front (a
full disk fails the pull before the first byte moves); each part's progress is kept in
`sha256-<hex>-partial-<N>` as Ollama does (`{"N","Offset","Size","Completed"}`), so a
pull cut off by a crash, a kill or a dropped registry continues where it stopped and
only the missing bytes move. Parts are read on pool threads straight into the file
(`ranges.py`); a thread hashes the file as its prefix completes, so the check costs no
extra pass over the network; the blob is renamed into place only when the sha256 and
the size match. A mismatch deletes the partial files. An exclusive `flock` on the
partial file makes a second pull of the same blob (in this process or another) wait
for the first instead of downloading it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from corral.errors import DigestMismatch, RegistryError, StoreError
from corral.registry.client.ranges import RangeReader, Reroute
from corral.registry.client.transport import RegistrySession, error_text
from corral.registry.protocol import MAX_PARTS, part_size
from corral.store.blobs import BlobStore
from corral.store.files import os_error, start_writeback
from corral.store.manifests import Layer

__all__ = ["BlobDownload"]

logger = logging.getLogger(__name__)

_STATE_EVERY = 16 << 20
_RETRIES = 2
_LOCK_POLL = 0.2
_HASH_READ = 4 << 20


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


class _Hasher:
    """Hashes the partial file in order, on a thread of its own, as its prefix completes.

    Parts report progress with `advance`; the thread reads back (from the page cache)
    everything up to the first incomplete part, so the digest is ready moments after
    the last byte lands, and starts writing what it hashed to disk, so the fsync before
    the rename has little left to wait for.
    """

    def __init__(self, fd: int, parts: list[_Part], total: int) -> None:
        self._fd = fd
        self._parts = parts
        self._total = total
        self._sha = hashlib.sha256()
        self._changed = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self.hashed = 0
        self._thread = threading.Thread(target=self._run, name="corral-hash", daemon=True)
        self._thread.start()

    def advance(self, part: _Part, count: int) -> None:
        """(Any thread.) `count` more bytes of `part` are in the file."""
        with self._changed:
            part.completed += count
            self._changed.notify()

    def _watermark(self) -> int:
        end = 0
        for part in self._parts:
            end = part.offset + part.completed
            if not part.done:
                break
        return end

    def _run(self) -> None:
        buffer = memoryview(bytearray(_HASH_READ))
        try:
            while self.hashed < self._total:
                with self._changed:
                    while (mark := self._watermark()) <= self.hashed and not self._closing:
                        self._changed.wait()
                while self.hashed < mark:
                    want = min(_HASH_READ, mark - self.hashed)
                    count = os.preadv(self._fd, [buffer[:want]], self.hashed)
                    if not count:
                        raise OSError("the partial file is shorter than its completed parts")
                    self._sha.update(buffer[:count])
                    start_writeback(self._fd, self.hashed, count)
                    self.hashed += count
                if self._closing and self._watermark() <= self.hashed:
                    return
        except BaseException as exc:  # reported by finish()
            self._error = exc

    def finish(self) -> str:
        """(Blocking.) Wait for the hash of the whole file and return its digest.

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
        """(Blocking.) Stop the thread once it has hashed what is complete."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join()


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
        _reserve(fd, total)
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
            self._save_state(part)

    def _save_state(self, part: _Part) -> None:
        path = self.blobs.part_state_path(self.layer.digest, part.index)
        with contextlib.suppress(OSError):
            path.write_bytes(part.state())

    async def _download(self, fd: int, partial: Path) -> None:
        try:
            self.parts = await asyncio.to_thread(self._load_parts, fd)
        except OSError as exc:
            raise StoreError(
                f"cannot make room for {self.layer.digest} ({self.layer.size} bytes) in "
                f'"{self.blobs.root}": {exc.strerror or exc}'
            ) from None
        self.resumed = self.completed
        if self.resumed:
            logger.info(
                "resuming %s at %d of %d bytes", self.layer.digest, self.resumed, self.layer.size
            )
        hasher = _Hasher(fd, self.parts, self.layer.size)
        reader = RangeReader(self.session.timeout)
        pending = [part for part in self.parts if not part.done]
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(len(pending), MAX_PARTS)), thread_name_prefix="corral-pull"
        )
        committed = False
        try:
            if pending:
                url = await self._direct_url()
                try:
                    async with asyncio.TaskGroup() as group:
                        for part in pending:
                            group.create_task(self._fetch_part(url, part, fd, pool, reader, hasher))
                except BaseExceptionGroup as group_error:
                    raise group_error.exceptions[0] from None
            actual = await asyncio.to_thread(hasher.finish)
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
            # A cancelled pull ends its reads now; every write has finished before the
            # caller closes the descriptor.
            reader.abort()
            await asyncio.to_thread(pool.shutdown, wait=True)
            await asyncio.to_thread(hasher.close)
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

    async def _fetch_part(
        self,
        url: str,
        part: _Part,
        fd: int,
        pool: ThreadPoolExecutor,
        reader: RangeReader,
        hasher: _Hasher,
    ) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(_RETRIES + 1):
            before = part.completed
            headers = self.session.credentials(url)
            try:
                await loop.run_in_executor(
                    pool, self._fetch_range, url, headers, part, fd, reader, hasher
                )
                return
            except Reroute as exc:
                if attempt == _RETRIES:
                    raise RegistryError(str(exc)) from None
                url = await self._direct_url()  # the storage link may have expired
            except RegistryError:
                if attempt == _RETRIES:
                    raise
                # Back off, then continue from what arrived; a part that made progress
                # earns its retries back.
                await asyncio.sleep(0.5 * 2**attempt if part.completed == before else 0.1)

    def _fetch_range(
        self,
        url: str,
        headers: dict[str, str],
        part: _Part,
        fd: int,
        reader: RangeReader,
        hasher: _Hasher,
    ) -> None:
        """(Pool thread.) Read the rest of `part` into the file, saving its state as it goes."""
        start = part.offset + part.completed
        end = part.offset + part.size - 1
        saved = part.completed

        def store(view: memoryview, offset: int) -> None:
            nonlocal saved
            try:
                _pwrite_all(fd, view, offset)
            except OSError as exc:
                raise os_error("write", self.blobs.partial_path(self.layer.digest), exc) from None
            hasher.advance(part, len(view))
            if part.completed - saved >= _STATE_EVERY:
                saved = part.completed
                self._save_state(part)

        where = f"download of {self.layer.digest} bytes {start}-{end}"
        try:
            reader.fetch(url, start, end, headers, store)
        except Reroute as exc:
            raise Reroute(f"{where}: {exc}") from None
        except RegistryError as exc:
            raise RegistryError(f"{where}: {exc}") from None
        finally:
            self._save_state(part)  # keep what arrived: a resumed pull starts after it


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], offset + done)


def _reserve(fd: int, size: int) -> None:
    """Give the partial file its full size, with the disk space allocated where it can be.

    Allocated space makes the writes cheap and a full disk fail now rather than at 90%;
    a file system without `fallocate` gets a sparse file instead.

    Raises:
        OSError: the disk has no room for `size` bytes.
    """
    if size == 0:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise
        os.ftruncate(fd, size)  # no fallocate here: parts write into a sparse file

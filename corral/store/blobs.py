"""Content-addressed blobs: `<models>/blobs/sha256-<hex>`, written atomically.

A blob is written to a temp file in the blobs directory while it is hashed, fsynced,
then renamed to the name of the digest it actually hashed to. A file under a digest
name is therefore always complete; the only files with other names are temp files and
partial downloads, which `remove_stale_temp_files` sweeps. Safe to call from threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from corral.errors import BlobNotFound, DigestMismatch, StoreError
from corral.store.digests import blob_filename, digest_from_filename, parse_digest
from corral.store.files import fsync_dir, os_error

__all__ = ["BLOB_MODE", "CHUNK_SIZE", "TEMP_PREFIX", "BlobStore"]

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
TEMP_PREFIX = "tmp-"
"""Temp files never look like digests, so nothing mistakes them for a committed blob."""
BLOB_MODE = 0o444

# Temp files being written by this process; sweeping stale temps never touches them.
_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()


class BlobStore:
    """The blobs directory of a model store.

    Args:
        root: the blobs directory (`<models>/blobs`); created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        """The file a blob lives in. The digest is validated before the path is built.

        Raises:
            InvalidDigest: `digest` is not sha256 and 64 lowercase hex digits.
        """
        return self.root / blob_filename(digest)

    def exists(self, digest: str) -> bool:
        """Whether a committed blob (a regular file, not a symlink) has this digest."""
        return self._stat(digest) is not None

    def size(self, digest: str) -> int | None:
        """The blob's size in bytes, or None when it is absent."""
        st = self._stat(digest)
        return None if st is None else st.st_size

    def _stat(self, digest: str) -> os.stat_result | None:
        try:
            st = os.lstat(self.path(digest))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error("read", self.path(digest), exc) from exc
        return st if stat.S_ISREG(st.st_mode) else None

    def touch(self, digest: str) -> None:
        """Refresh a blob's mtime so the pruning grace period protects it again.

        Best effort: a blob owned by another user (a shared Ollama store) keeps its mtime.
        """
        with contextlib.suppress(OSError):
            os.utime(self.path(digest))

    def write(
        self, chunks: Iterable[bytes] | BinaryIO, *, expected: str | None = None
    ) -> tuple[str, int]:
        """Store content and return its `(digest, size)`.

        Args:
            chunks: an iterable of byte chunks, or a binary file object to read to the end.
            expected: the digest the content must hash to.

        Raises:
            InvalidDigest: `expected` is not a valid digest (checked before reading).
            DigestMismatch: the content hashed to something else; nothing is kept.
            StoreError: the file could not be written (disk full, permissions).
        """
        want = parse_digest(expected) if expected is not None else None
        self._mkdir()
        temp = self.root / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        # Registered before the file exists: kernel mtimes can trail time.time().
        with _in_flight_lock:
            _in_flight.add(str(temp))
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            with _in_flight_lock:
                _in_flight.discard(str(temp))
            raise os_error("write", temp, exc) from exc
        committed = False
        try:
            hasher = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb", buffering=0) as out:
                # Errors raised by the source (a dropped connection) pass through as they are;
                # only failures of our own file operations become StoreError.
                for chunk in _iter_chunks(chunks):
                    if chunk:
                        hasher.update(chunk)
                        _write_all(out, chunk, temp)
                        size += len(chunk)
                try:
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise os_error("write", temp, exc) from exc
            actual = "sha256:" + hasher.hexdigest()
            if want is not None and actual != want:
                raise DigestMismatch(f'digest mismatch, expected "{want}", got "{actual}"')
            try:
                self._commit(temp, actual, size)
            except OSError as exc:
                raise os_error("write", self.path(actual), exc) from exc
            committed = True
            return actual, size
        finally:
            if not committed:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            with _in_flight_lock:
                _in_flight.discard(str(temp))

    def _commit(self, temp: Path, digest: str, size: int) -> None:
        target = self.path(digest)
        existing = self._stat(digest)
        if existing is not None and existing.st_size == size:
            # Already stored: keep the file a running model may have mapped, refresh its
            # mtime so pruning's grace period covers the caller that is about to use it.
            os.unlink(temp)
            self.touch(digest)
            return
        # Absent, truncated, or a planted symlink: replace it with what we just hashed.
        os.chmod(temp, BLOB_MODE)
        os.replace(temp, target)
        fsync_dir(self.root)

    def partial_path(self, digest: str) -> Path:
        """Where a download of `digest` collects its bytes (`sha256-<hex>-partial`, Ollama's)."""
        return self.root / (blob_filename(digest) + "-partial")

    def part_state_path(self, digest: str, index: int) -> Path:
        """The JSON state of one ranged part of a download (`sha256-<hex>-partial-<N>`)."""
        return self.root / f"{blob_filename(digest)}-partial-{int(index)}"

    def commit_file(self, path: Path, digest: str, size: int) -> None:
        """Move a file the caller has hashed to `digest` into place as that blob.

        The file must be on the store's file system (a partial download in the blobs
        directory, or an upload beside it); it is fsynced before the rename.

        Raises:
            StoreError: the file could not be synced or renamed.
        """
        canonical = parse_digest(digest)
        self._mkdir()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._commit(Path(path), canonical, size)
        except OSError as exc:
            raise os_error("write", self.path(canonical), exc) from exc

    def write_bytes(self, data: bytes) -> tuple[str, int]:
        """Store a byte string and return its `(digest, size)`."""
        return self.write([data])

    def import_file(self, path: Path, *, expected: str | None = None) -> tuple[str, int]:
        """Copy a local file into the store, hashing while copying.

        Raises:
            StoreError: the file cannot be read (the message names it).
            DigestMismatch: `expected` was given and the file hashes to something else.
        """
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below, errors need the path
        except OSError as exc:
            raise os_error("read", path, exc) from exc
        with source:
            return self.write(source, expected=expected)

    def open(self, digest: str) -> BinaryIO:
        """Open a committed blob for reading, refusing to follow a symlink.

        Raises:
            BlobNotFound: no blob has this digest.
        """
        path = self.path(digest)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError as exc:
            raise BlobNotFound(f'blob "{parse_digest(digest)}" not found') from exc
        except OSError as exc:
            raise os_error("read", path, exc) from exc
        return os.fdopen(fd, "rb")

    def read_bytes(self, digest: str, *, limit: int) -> bytes:
        """A small blob's content; StoreError if it is larger than `limit` bytes."""
        with self.open(digest) as source:
            data = source.read(limit + 1)
        if len(data) > limit:
            raise StoreError(f'blob "{parse_digest(digest)}" is larger than {limit} bytes')
        return data

    def verify(self, digest: str) -> None:
        """Re-hash a blob.

        Raises:
            BlobNotFound: no blob has this digest.
            DigestMismatch: the file no longer hashes to its name (corrupt on disk).
        """
        want = parse_digest(digest)
        hasher = hashlib.sha256()
        with self.open(want) as source:
            while chunk := source.read(CHUNK_SIZE):
                hasher.update(chunk)
        actual = "sha256:" + hasher.hexdigest()
        if actual != want:
            raise DigestMismatch(f'digest mismatch, expected "{want}", got "{actual}"')

    def remove(self, digest: str) -> None:
        """Delete a blob; a blob that is already gone is not an error."""
        path = self.path(digest)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise os_error("remove", path, exc) from exc

    def digests(self) -> set[str]:
        """The digests of every committed blob; temp files and strays are ignored."""
        return {digest for digest, _ in self._scan()[0]}

    def entries(self) -> tuple[list[tuple[str, float]], list[tuple[Path, float]]]:
        """`([(digest, mtime)], [(stray path, mtime)])` for the files in the blobs directory."""
        return self._scan()

    def _scan(self) -> tuple[list[tuple[str, float]], list[tuple[Path, float]]]:
        blobs: list[tuple[str, float]] = []
        strays: list[tuple[Path, float]] = []
        try:
            it = os.scandir(self.root)
        except FileNotFoundError:
            return blobs, strays
        except OSError as exc:
            raise os_error("list", self.root, exc) from exc
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed while we looked
                if stat.S_ISDIR(st.st_mode):
                    continue  # never ours; leave it alone
                digest = digest_from_filename(entry.name)
                if digest is not None and stat.S_ISREG(st.st_mode):
                    blobs.append((digest, st.st_mtime))
                else:
                    strays.append((Path(entry.path), st.st_mtime))
        return blobs, strays

    def remove_stale_temp_files(self, older_than: float) -> int:
        """Delete temp files and partial downloads untouched for `older_than` seconds.

        Returns:
            How many files were removed.
        """
        cutoff = time.time() - older_than
        removed = 0
        for path, mtime in self._scan()[1]:
            with _in_flight_lock:
                writing = str(path) in _in_flight
            if mtime >= cutoff or writing:
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("cannot remove stale blob file %s: %s", path, exc)
                continue
            removed += 1
        return removed

    def _mkdir(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error("create", self.root, exc) from exc


def _iter_chunks(source: Iterable[bytes] | BinaryIO) -> Iterable[bytes]:
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            chunk = read(CHUNK_SIZE)
            if not chunk:
                return
            yield bytes(chunk)
    else:
        yield from source


def _write_all(out: BinaryIO, data: bytes, temp: Path) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[out.write(view) :]
    except OSError as exc:
        raise os_error("write", temp, exc) from exc

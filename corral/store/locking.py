"""The store's mutation lock and the leases that keep in-flight blobs alive.

Mutations (save, copy, delete, prune) hold a `threading.Lock` and an exclusive
`fcntl.flock` on `<models>/.lock`, so threads of this process and other processes on
the same directory take turns. A `Lease` marks digests that a pull or create has
written but not yet committed to a manifest; pruning never removes a leased blob.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from corral.store.digests import parse_digest
from corral.store.files import os_error

__all__ = ["Lease", "LeaseTable", "StoreLock"]


class StoreLock:
    """An exclusive lock over one store, across threads and processes.

    Args:
        path: the lock file (`<models>/.lock`), created on first use.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for the duration of the `with` block.

        Raises:
            StoreError: the lock file cannot be created (a read-only store, say).
        """
        with self._thread_lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise os_error("lock", self.path, exc) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock


class LeaseTable:
    """Digests protected from pruning, counted so that overlapping leases nest.

    One table per store directory per process (`for_root`), so two `Store` objects on
    the same directory honour each other's leases. Other processes cannot see them;
    for those, pruning's mtime grace period is the protection, as in Ollama.
    """

    _tables: ClassVar[dict[str, LeaseTable]] = {}
    _tables_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    @classmethod
    def for_root(cls, root: Path) -> LeaseTable:
        """The process-wide table of the store at `root`."""
        key = os.path.realpath(root)
        with cls._tables_lock:
            table = cls._tables.get(key)
            if table is None:
                table = cls._tables[key] = cls()
            return table

    def acquire(self, digest: str) -> str:
        canonical = parse_digest(digest)
        with self._lock:
            self._held[canonical] += 1
        return canonical

    def release(self, digest: str) -> None:
        with self._lock:
            self._held[digest] -= 1
            if self._held[digest] <= 0:
                del self._held[digest]

    def snapshot(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._held)


class Lease:
    """Blobs an unfinished pull or create depends on; released on `close()` or `with` exit.

    Use it as `with store.lease() as lease: lease.add(digest) ...; store.save(...)`.
    """

    def __init__(self, table: LeaseTable) -> None:
        self._table = table
        self._digests: list[str] = []
        self._closed = False

    def add(self, digest: str) -> str:
        """Protect a digest until the lease ends; returns its canonical form."""
        if self._closed:
            raise RuntimeError("lease already released")
        canonical = self._table.acquire(digest)
        self._digests.append(canonical)
        return canonical

    def close(self) -> None:
        """Release every digest this lease holds."""
        if self._closed:
            return
        self._closed = True
        for digest in self._digests:
            self._table.release(digest)
        self._digests.clear()

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

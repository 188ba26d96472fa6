"""Small file primitives the store is built on: atomic replace, bounded reads, fsync.

Every OSError leaving the store goes through `os_error`, so callers see a `StoreError`
that names the path and the reason ("No space left on device", "Permission denied").
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from corral.errors import StoreError

__all__ = [
    "TEMP_MARK",
    "atomic_write",
    "fsync_dir",
    "is_dir_entry",
    "is_file_entry",
    "os_error",
    "read_limited",
    "scan_dir",
    "start_writeback",
]

TEMP_MARK = ".tmp-"
"""Part of every temp file name `atomic_write` creates (after a leading dot)."""


def os_error(action: str, path: Path | str, exc: OSError) -> StoreError:
    """A StoreError for a failed file operation, naming the path and the reason."""
    reason = exc.strerror or str(exc)
    return StoreError(f'cannot {action} "{path}": {reason}')


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside `path` durable (best effort where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing `length` bytes at `offset` of `fd` to disk, without waiting.

    A large file written this way as it fills has little left to do at its `fsync`.
    Linux only (`sync_file_range`); elsewhere, and on any failure, it does nothing.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data`; readers see the old file or the new, never half of one.

    The temp file (`.<name>.tmp-<random>` beside the target) is fsynced before the
    rename and removed if anything fails.

    Raises:
        StoreError: the directory or file could not be written.
    """
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}{TEMP_MARK}")
    except OSError as exc:
        raise os_error("write", path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), mode)
        os.replace(temp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise os_error("write", path, exc) from exc
        raise
    fsync_dir(parent)


def read_limited(path: Path, limit: int, what: str) -> tuple[bytes, os.stat_result]:
    """A small file's bytes and stat, refusing anything over `limit` bytes.

    Raises:
        FileNotFoundError: the file does not exist (callers map it to "not found").
        StoreError: it is not a regular file, is too large, or cannot be read.
    """
    try:
        with open(path, "rb") as source:
            st = os.fstat(source.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise StoreError(f'{what} "{path}" is not a regular file')
            data = source.read(limit + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise os_error("read", path, exc) from exc
    if len(data) > limit:
        raise StoreError(f'{what} "{path}" is larger than {limit} bytes')
    return data, st


def scan_dir(directory: Path) -> list[os.DirEntry[str]]:
    """The entries of a directory; none when it does not exist."""
    try:
        with os.scandir(directory) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise os_error("list", directory, exc) from exc


def is_dir_entry(entry: os.DirEntry[str]) -> bool:
    """Whether an entry is a directory (following symlinks, as users link model dirs)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def is_file_entry(entry: os.DirEntry[str]) -> bool:
    """Whether an entry is a regular file (following symlinks)."""
    try:
        return entry.is_file()
    except OSError:
        return False

"""Opening a local file for a blob upload, with OSError translated at the boundary."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from corral.errors import InvalidRequest

__all__ = ["CHUNK_SIZE", "open_blob"]

CHUNK_SIZE = 1 << 20
"""Bytes read and sent at a time while uploading."""


def open_blob(path: Path) -> tuple[BinaryIO, int]:
    """Open `path` for reading; returns the handle and the file's size.

    Raises:
        InvalidRequest: the file cannot be opened (missing, a directory, no permission).
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InvalidRequest(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        handle.close()
        raise InvalidRequest(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    return handle, size

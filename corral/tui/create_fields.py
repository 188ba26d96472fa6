"""The `/api/create` body for a Modelfile written in the editor, uploading its local files.

The plan (`corral.client.create_plan`, shared with `corral create -f`) is made and
each local file hashed in a thread, never on the event loop; files the daemon lacks
are uploaded through `AsyncClient.upload_blob`. Progress goes to `status` as text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corral.client import AsyncClient
from corral.client.create_plan import plan_create, sha256_file
from corral.errors import ModelfileError
from corral.modelfile import Modelfile

__all__ = ["create_body", "error_line"]

_PATH_KEYWORDS = frozenset({"FROM", "ADAPTER"})


def _percent(done: int, size: int) -> str:
    return f"{100 * done // max(size, 1)}%"


async def _upload(client: AsyncClient, path: Path, status: Callable[[str], None]) -> str:
    loop = asyncio.get_running_loop()

    def hashing(done: int, size: int) -> None:
        loop.call_soon_threadsafe(status, f"hashing {path.name} {_percent(done, size)}")

    status(f"hashing {path.name}")
    digest = await asyncio.to_thread(sha256_file, path, hashing)
    if await client.blob_exists(digest):
        return digest
    size = (await asyncio.to_thread(path.stat)).st_size
    label = f"copying file {digest[:19]}"
    status(f"{label} 0%")
    await client.upload_blob(digest, path, lambda sent: status(f"{label} {_percent(sent, size)}"))
    return digest


async def create_body(
    client: AsyncClient, modelfile: Modelfile, base: Path, status: Callable[[str], None]
) -> dict[str, Any]:
    """Keyword fields for `AsyncClient.create`; relative paths are taken from `base`.

    Raises:
        ModelfileError: no FROM, or a FROM/ADAPTER path names nothing usable.
        CorralError: an upload failed.
    """
    plan = await asyncio.to_thread(plan_create, modelfile, base)
    digests = {path: await _upload(client, path, status) for path in plan.uploads}
    return plan.body(digests)


def error_line(text: str, error: ModelfileError) -> int:
    """The 1-based line of the FROM/ADAPTER an error names (its own line if it has one), or 0."""
    if error.line:
        return error.line
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split(None, 1)
        named = len(parts) == 2 and parts[0].upper() in _PATH_KEYWORDS
        if named and repr(parts[1].strip()) in error.reason:
            return number
    return 0

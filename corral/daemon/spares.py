"""A spare runner process, started ahead of need, so that a cold load skips Python's imports.

Importing llama-cpp-python, numpy and aiohttp takes a runner several hundred milliseconds
before it even opens the GGUF; llama.cpp's own server pays none of that. The daemon keeps
one `python -m corral.runner --standby` process that has done its imports and waits on
stdin for its real arguments. A load takes it, hands it a model, and a new spare is
started only once that load is done, so the two never compete for the CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["SpareRunners", "spawn_runner"]

logger = logging.getLogger(__name__)

Process = asyncio.subprocess.Process


async def spawn_runner(args: Sequence[str], *, stdin: int) -> Process:
    """Start `python -m corral.runner ARGS` with its stdout and stderr piped to us."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "corral.runner",
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


class SpareRunners:
    """Holds at most one idle runner process and replaces it after each use."""

    def __init__(self) -> None:
        self._spare: Process | None = None
        self._starting: asyncio.Task[None] | None = None
        self._closed = False

    def replenish(self) -> None:
        """Start a new spare in the background unless one is there or on its way."""
        if self._closed or self._starting is not None:
            return
        if self._spare is not None and self._spare.returncode is None:
            return
        self._starting = asyncio.create_task(self._start())

    async def _start(self) -> None:
        try:
            args = ["--standby", "--parent-pid", str(os.getpid())]
            process = await spawn_runner(args, stdin=asyncio.subprocess.PIPE)
        except OSError as exc:
            logger.warning("could not start a spare runner: %s", exc)
            return
        finally:
            self._starting = None
        if self._closed:
            await _kill(process)
            return
        self._spare = process
        logger.debug("spare runner pid=%s waiting", process.pid)

    async def take(self, args: Sequence[str]) -> Process | None:
        """Hand the spare its runner arguments; None when there is no live spare."""
        process, self._spare = self._spare, None
        if process is None or process.returncode is not None or process.stdin is None:
            return None
        try:
            process.stdin.write(json.dumps(list(args)).encode() + b"\n")
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            await _kill(process)
            return None
        return process

    async def close(self) -> None:
        """Stop the spare (and one still starting); no new ones after this."""
        self._closed = True
        if self._starting is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        process, self._spare = self._spare, None
        if process is not None:
            await _kill(process)


async def _kill(process: Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()

"""Runner handles: spawn `python -m corral.runner`, wait for it, talk to it, kill it.

The scheduler depends only on the `RunnerHandle` protocol; `SubprocessRunner`
is the real implementation. Each runner listens on a Unix socket in a directory
of its own that only this user can enter: cheaper per streamed token than loopback
TCP, and closed to other users of the machine. Runner stderr is logged line by
line and its last 8 KiB are kept so that a failed load can say why ("runner
failed to load: ...").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from corral import wirejson
from corral.daemon.runnerstream import Forward, open_completion
from corral.daemon.spares import SpareRunners, spawn_runner
from corral.errors import InvalidRequest, RunnerCrashed, RunnerError, RunnerStartFailed

__all__ = [
    "RunnerHandle",
    "RunnerSpec",
    "StderrTail",
    "SubprocessRunner",
    "remove_stale_runner_homes",
]

logger = logging.getLogger(__name__)

_TAIL_BYTES = 8192
_HOME_PREFIX = "corral-runner-"


@dataclass(frozen=True, slots=True)
class RunnerSpec:
    """What a runner is started with; two equal specs can share one runner.

    A request's spec may leave two things to the scheduler: `num_parallel` 0 (as many
    sequences as fit, up to 4) and `num_gpu` `None` (layers from the memory fit). The
    spec a runner is started with has both decided.
    """

    model_path: Path
    num_ctx: int
    num_parallel: int = 1
    num_batch: int = 512
    num_thread: int = 0
    num_gpu: int | None = None
    use_mmap: bool = True
    adapters: tuple[Path, ...] = ()
    embedding: bool = False
    pooling: str = ""
    """Embedding pooling passed to the runner; empty keeps the model's own."""
    projector: Path | None = None
    """The vision projector (mmproj) blob: the runner then reads images."""

    def args(self, socket: Path) -> list[str]:
        """The runner's command-line arguments (after `python -m corral.runner`)."""
        args = [
            "--model",
            str(self.model_path),
            "--socket",
            str(socket),
            "--ctx-size",
            str(self.num_ctx),
            "--parallel",
            str(max(1, self.num_parallel)),
            "--batch-size",
            str(self.num_batch),
            "--threads",
            str(self.num_thread),
            "--gpu-layers",
            str(-1 if self.num_gpu is None else self.num_gpu),
            "--parent-pid",
            str(os.getpid()),
        ]
        for adapter in self.adapters:
            args += ["--lora", str(adapter)]
        if self.projector is not None:
            args += ["--mmproj", str(self.projector)]
        if self.embedding:
            args.append("--embedding")
            if self.pooling:
                args += ["--pooling", self.pooling]
        if not self.use_mmap:
            args.append("--no-mmap")
        return args

    def serves(self, wanted: RunnerSpec) -> bool:
        """Whether a runner started with this spec can serve a request for `wanted`."""
        return self == replace(
            wanted,
            num_parallel=wanted.num_parallel or self.num_parallel,
            num_gpu=self.num_gpu if wanted.num_gpu is None else wanted.num_gpu,
        )


class RunnerHandle(Protocol):
    """What the scheduler needs from a loaded model."""

    spec: RunnerSpec

    @property
    def alive(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...

    def completion(
        self, payload: dict[str, Any], *, forward: Forward | None = None
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def tokenize(self, text: str) -> list[int]: ...

    async def embed(self, texts: Sequence[str], *, truncate: bool = True) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class StderrTail:
    """The last few KiB of a runner's stderr, for error messages."""

    def __init__(self, limit: int = _TAIL_BYTES) -> None:
        self._limit = limit
        self._text = ""

    def add(self, line: str) -> None:
        self._text = (self._text + line + "\n")[-self._limit :]

    @property
    def text(self) -> str:
        return self._text

    def reason(self) -> str:
        """The most telling line: the last one that mentions an error, else the last one."""
        lines = [line.strip() for line in self._text.splitlines() if line.strip()]
        for line in reversed(lines):
            if "error" in line.lower() or "failed" in line.lower():
                return line
        return lines[-1] if lines else "no output"


class SubprocessRunner:
    """A `python -m corral.runner` process serving one model on a Unix socket."""

    def __init__(self, spec: RunnerSpec, process: asyncio.subprocess.Process, home: Path) -> None:
        self.spec = spec
        self._process = process
        self._home = home
        """The runner's private directory, holding its socket; removed on close."""
        self._socket = str(home / "socket")
        self._base = "http://runner"
        self.tail = StderrTail()
        self._stderr_task = asyncio.create_task(self._pump_stderr())
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            connector=aiohttp.UnixConnector(path=self._socket, limit=0),
        )
        self.info: dict[str, Any] = {}

    @classmethod
    async def start(
        cls, spec: RunnerSpec, *, load_timeout: float, spares: SpareRunners | None = None
    ) -> SubprocessRunner:
        """Start a runner (the spare, when there is one) and wait until it reports ready.

        Raises:
            RunnerStartFailed: the process exited, or was not ready within `load_timeout`.
        """
        home = Path(tempfile.mkdtemp(prefix=_HOME_PREFIX))  # mode 0700
        args = spec.args(home / "socket")
        try:
            process = await spares.take(args) if spares is not None else None
            if process is None:
                process = await spawn_runner(args, stdin=asyncio.subprocess.DEVNULL)
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        runner = cls(spec, process, home)
        logger.info("starting runner pid=%s model=%s in %s", process.pid, spec.model_path, home)
        try:
            await asyncio.wait_for(runner._wait_ready(), load_timeout)
        except TimeoutError:
            await runner.close()
            raise RunnerStartFailed(
                f"runner failed to load: timed out after {load_timeout:g}s"
                " (CORRAL_LOAD_TIMEOUT); the runner was stopped",
                stderr_tail=runner.tail.text,
            ) from None
        except BaseException:
            await runner.close()
            raise
        finally:
            if spares is not None:
                spares.replenish()
        return runner

    async def _wait_ready(self) -> None:
        """Wait for the runner's `ready` line on stdout, then read its /health facts.

        The runner writes that line once the model is loaded; its stdout closing first
        means it exited, and its stderr says why.
        """
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if line.strip() != b"ready":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._process.wait(), 5)
            await self._drain_stderr()
            # Name the blob, not where the store lives on the server's disk.
            reason = self.tail.reason()
            for path in (self.spec.model_path, self.spec.projector):
                if path is not None:
                    reason = reason.replace(str(path), path.name)
            raise RunnerStartFailed(f"runner failed to load: {reason}", stderr_tail=self.tail.text)
        try:
            async with self._session.get(f"{self._base}/health") as response:
                self.info = await response.json()
        except (aiohttp.ClientError, OSError, json.JSONDecodeError) as exc:
            raise RunnerStartFailed(
                f"runner failed to load: it said ready but its /health did not answer ({exc})",
                stderr_tail=self.tail.text,
            ) from exc

    async def _pump_stderr(self) -> None:
        stream = self._process.stderr
        assert stream is not None
        while True:
            line = await stream.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            self.tail.add(text)
            logger.debug("runner pid=%s %s", self._process.pid, text)

    async def _drain_stderr(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 2)

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def _crashed(self, exc: BaseException | None) -> RunnerCrashed:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._process.wait(), 1)
        await self._drain_stderr()
        if self._process.returncode is not None:
            code = self._process.returncode
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            return RunnerCrashed(
                f"model runner has unexpectedly stopped ({how}): {self.tail.reason()}",
                stderr_tail=self.tail.text,
            )
        return RunnerCrashed(
            f"lost connection to the model runner: {exc}", stderr_tail=self.tail.text
        )

    async def _post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self._session.post(f"{self._base}{path}", json=payload) as response:
                data = await response.json(content_type=None)
                if response.status >= 400:
                    raise _runner_error(response.status, data)
                return dict(data)
        except (aiohttp.ClientError, OSError) as exc:
            raise await self._crashed(exc) from exc

    async def completion(
        self, payload: dict[str, Any], *, forward: Forward | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream the runner's NDJSON objects; closing the iterator stops generation.

        A plain HTTP/1.0 exchange on a connection of its own: the runner streams the
        body unframed until it closes the connection (`runnerstream.py` reads it).
        The first object always comes through the iterator, so that its consumer can
        start its response; after it, plain pieces that `forward` takes are not yielded.
        """
        try:
            stream = await open_completion(self._socket, json.dumps(payload).encode())
        except OSError as exc:
            raise await self._crashed(exc) from exc
        try:
            status = await stream.status()
            if status >= 400:
                raise _runner_error(status, json.loads(await stream.body()))
            done = False
            while (line := await stream.line()) is not None:
                item = wirejson.loads(line)
                if "error" in item:
                    raise RunnerError(str(item["error"]))
                done = bool(item.get("done"))
                yield item
                stream.forward(forward)  # the consumer has handled the first
            if not done:
                raise await self._crashed(None)
        except (OSError, ValueError) as exc:
            raise await self._crashed(exc) from exc
        finally:
            stream.close()

    async def tokenize(self, text: str) -> list[int]:
        data = await self._post_json("/tokenize", {"content": text, "add_special": False})
        return [int(token) for token in data.get("tokens", [])]

    async def embed(self, texts: Sequence[str], *, truncate: bool = True) -> dict[str, Any]:
        payload = {"content": list(texts), "truncate": truncate}
        return await self._post_json("/embedding", payload)

    async def close(self) -> None:
        """Stop the process: SIGTERM, then SIGKILL after a grace period."""
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
                await self._process.wait()
        await self._session.close()
        shutil.rmtree(self._home, ignore_errors=True)
        self._stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._stderr_task
        logger.info("runner stopped pid=%s code=%s", self._process.pid, self._process.returncode)


def _runner_error(status: int, data: Any) -> RunnerError | InvalidRequest:
    message = (
        data.get("error", f"runner answered {status}") if isinstance(data, dict) else str(data)
    )
    return InvalidRequest(message) if status == 400 else RunnerError(message)


def remove_stale_runner_homes(older_than: float = 60.0) -> int:
    """Remove the runner directories a killed daemon left in the temporary directory.

    A runner removes nothing when the kernel kills it with its daemon, so its directory
    (and socket) stays behind. One is stale when it is this user's, nothing listens on
    its socket and it is older than `older_than` seconds: a runner another daemon is
    starting right now is left alone. Returns how many were removed.
    """
    now = time.time()
    removed = 0
    for home in Path(tempfile.gettempdir()).glob(_HOME_PREFIX + "*"):
        try:
            info = home.lstat()
        except OSError:
            continue
        if (
            not stat.S_ISDIR(info.st_mode)
            or info.st_uid != os.getuid()
            or now - info.st_mtime < older_than
            or _listening(home / "socket")
        ):
            continue
        shutil.rmtree(home, ignore_errors=True)
        removed += 1
    return removed


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True

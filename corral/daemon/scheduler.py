"""The scheduler: which models are loaded, who may use them, and when they go.

One `asyncio.Lock` guards the `loaded` map; loads are serialised by a second
lock so that requests for models already loaded never wait behind a load. The
scheduler knows runners only through `RunnerHandle` and receives its
collaborators as arguments, so tests drive it with fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from corral.daemon.runners import RunnerHandle, RunnerSpec
from corral.errors import InsufficientMemory, QueueFull
from corral.gpu import MemorySnapshot

__all__ = ["LoadedRunner", "Scheduler"]

logger = logging.getLogger(__name__)

StartRunner = Callable[[RunnerSpec, float], Awaitable[RunnerHandle]]


@dataclass(eq=False)
class LoadedRunner:
    """A runner in the `loaded` map, with the bookkeeping the scheduler needs."""

    name: str
    spec: RunnerSpec
    handle: RunnerHandle
    size: int
    keep_alive: float
    info: dict[str, Any] = field(default_factory=dict)
    refcount: int = 0
    waiting: int = 0
    expires_at: float | None = None
    """Unix time the runner unloads when idle; `None` while busy or kept forever."""
    expire_when_idle: bool = False
    slots: asyncio.Semaphore = field(init=False)
    _timer: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(max(1, self.spec.num_parallel))

    @property
    def idle(self) -> bool:
        return self.refcount == 0


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


class Scheduler:
    """Loads, shares, expires and evicts runners.

    Args:
        start_runner: spawns a runner for a spec and waits until it is ready.
        memory: returns free/total memory now.
        estimate: predicted bytes a spec needs once loaded.
        max_loaded: most runners kept at once.
        max_queue: most requests allowed to wait for a runner or a slot.
        load_timeout: seconds a runner may take to load.
        default_keep_alive: seconds an idle runner stays when a request sets none.
    """

    def __init__(
        self,
        *,
        start_runner: StartRunner,
        memory: Callable[[], Awaitable[MemorySnapshot]],
        estimate: Callable[[RunnerSpec], Awaitable[int]],
        max_loaded: int,
        max_queue: int,
        load_timeout: float,
        default_keep_alive: float,
    ) -> None:
        self._start_runner = start_runner
        self._memory = memory
        self._estimate = estimate
        self._max_loaded = max(1, max_loaded)
        self._max_queue = max_queue
        self._load_timeout = load_timeout
        self._default_keep_alive = default_keep_alive
        self._loaded: dict[RunnerSpec, LoadedRunner] = {}
        self._lock = asyncio.Lock()
        self._load_lock = asyncio.Lock()
        self._idle = asyncio.Condition(self._lock)
        self._pending = 0

    # -- queries ---------------------------------------------------------------

    def running(self) -> list[LoadedRunner]:
        return list(self._loaded.values())

    @property
    def pending(self) -> int:
        return self._pending

    # -- acquiring ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def use(
        self,
        name: str,
        spec: RunnerSpec,
        *,
        keep_alive: float | None,
        info: dict[str, Any] | None = None,
    ) -> AsyncIterator[LoadedRunner]:
        """Hold one sequence slot of a runner for `spec`, loading it if needed."""
        runner = await self.acquire(name, spec, keep_alive=keep_alive, info=info)
        try:
            yield runner
        finally:
            await self.release(runner)

    async def acquire(
        self,
        name: str,
        spec: RunnerSpec,
        *,
        keep_alive: float | None,
        info: dict[str, Any] | None = None,
    ) -> LoadedRunner:
        if self._pending >= self._max_queue:
            raise QueueFull("server busy, please try again.  maximum pending requests exceeded")
        self._pending += 1
        try:
            runner = await self._reference(name, spec, keep_alive, info or {})
            runner.waiting += 1
            try:
                await runner.slots.acquire()
            except BaseException:
                await self._dereference(runner)
                raise
            finally:
                runner.waiting -= 1
            return runner
        finally:
            self._pending -= 1

    async def _reference(
        self, name: str, spec: RunnerSpec, keep_alive: float | None, info: dict[str, Any]
    ) -> LoadedRunner:
        """Find or load the runner and count this request against it."""
        while True:
            async with self._lock:
                runner = self._loaded.get(spec)
                if runner is not None and not runner.handle.alive:
                    logger.warning("runner for %s died; reloading", name)
                    await self._drop(runner)
                    runner = None
                if runner is not None:
                    self._cancel_timer(runner)
                    runner.refcount += 1
                    runner.expires_at = None
                    if keep_alive is not None:
                        runner.keep_alive = keep_alive
                    return runner
            async with self._load_lock:
                if spec in self._loaded:
                    continue  # loaded by a concurrent request while we waited
                await self._make_room(spec)
                size = await self._estimate(spec)
                handle = await self._start_runner(spec, self._load_timeout)
                runner = LoadedRunner(
                    name=name,
                    spec=spec,
                    handle=handle,
                    size=size,
                    keep_alive=self._default_keep_alive if keep_alive is None else keep_alive,
                    info=info,
                    refcount=1,
                )
                async with self._lock:
                    self._loaded[spec] = runner
                logger.info("loaded model=%s pid=%s ctx=%d", name, handle.pid, spec.num_ctx)
                return runner

    async def _make_room(self, spec: RunnerSpec) -> None:
        """Evict idle runners until `spec` fits in count and in memory.

        The same model loaded with other settings is replaced; otherwise idle
        runners go shortest keep-alive first. When everything is busy, wait for
        a runner to become idle (the shortest keep-alive is marked to unload).
        """
        need = await self._estimate(spec)
        # Memory reports can lag an unload (VRAM is released asynchronously), so
        # count what we evicted ourselves as free until the report catches up.
        baseline: int | None = None
        freed = 0
        while True:
            async with self._lock:
                stale = [r for r in self._loaded.values() if r.spec.model_path == spec.model_path]
                for runner in stale:
                    if runner.idle:
                        freed += runner.size
                        await self._drop(runner)
                    else:
                        runner.expire_when_idle = True
                if any(not r.idle for r in stale):
                    await self._idle.wait()
                    continue
                snapshot = await self._memory()
                # Layers that do not fit in VRAM stay on the CPU, so both count.
                reported = snapshot.free_vram + snapshot.free_ram
                baseline = reported if baseline is None else baseline
                free = max(reported, baseline + freed)
                if len(self._loaded) < self._max_loaded and need <= free:
                    return
                victims = sorted(
                    (r for r in self._loaded.values() if r.idle),
                    key=lambda r: (r.keep_alive, str(r.spec.model_path)),
                )
                if victims:
                    logger.info("evicting model=%s to make room", victims[0].name)
                    freed += victims[0].size
                    await self._drop(victims[0])
                    continue
                if not self._loaded:
                    raise InsufficientMemory(
                        f"model requires more system memory ({_human(need)}) "
                        f"than is available ({_human(free)})"
                    )
                if len(self._loaded) >= self._max_loaded:
                    shortest = min(self._loaded.values(), key=lambda r: r.keep_alive)
                    shortest.expire_when_idle = True
                await self._idle.wait()
                baseline, freed = None, 0

    async def release(self, runner: LoadedRunner) -> None:
        runner.slots.release()
        await self._dereference(runner)

    async def _dereference(self, runner: LoadedRunner) -> None:
        async with self._lock:
            runner.refcount -= 1
            if runner.refcount > 0:
                return
            if not runner.handle.alive or runner.expire_when_idle or runner.keep_alive <= 0:
                await self._drop(runner)
            else:
                self._schedule_expiry(runner)
            self._idle.notify_all()

    # -- expiry and unloading --------------------------------------------------------

    def _schedule_expiry(self, runner: LoadedRunner) -> None:
        self._cancel_timer(runner)
        if math.isinf(runner.keep_alive):
            runner.expires_at = None
            return
        runner.expires_at = time.time() + runner.keep_alive
        loop = asyncio.get_running_loop()
        runner._timer = loop.call_later(
            runner.keep_alive, lambda: asyncio.ensure_future(self._expire(runner))
        )

    @staticmethod
    def _cancel_timer(runner: LoadedRunner) -> None:
        if runner._timer is not None:
            runner._timer.cancel()
            runner._timer = None

    async def _expire(self, runner: LoadedRunner) -> None:
        async with self._lock:
            if runner.idle and self._loaded.get(runner.spec) is runner:
                logger.info("keep-alive expired model=%s", runner.name)
                await self._drop(runner)
                self._idle.notify_all()

    async def unload(self, model_path: str) -> bool:
        """Unload every runner of a model now if idle, else when its requests finish."""
        found = False
        async with self._lock:
            for runner in list(self._loaded.values()):
                if str(runner.spec.model_path) == model_path:
                    found = True
                    if runner.idle:
                        await self._drop(runner)
                    else:
                        runner.expire_when_idle = True
            self._idle.notify_all()
        return found

    async def _drop(self, runner: LoadedRunner) -> None:
        """Remove from the map and stop the process (caller holds the lock)."""
        self._cancel_timer(runner)
        if self._loaded.get(runner.spec) is runner:
            del self._loaded[runner.spec]
        await runner.handle.close()

    async def shutdown(self) -> None:
        async with self._lock:
            runners = list(self._loaded.values())
            self._loaded.clear()
        for runner in runners:
            self._cancel_timer(runner)
        await asyncio.gather(*(r.handle.close() for r in runners), return_exceptions=True)

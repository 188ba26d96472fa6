"""The scheduler: which models are loaded, who may use them, and when they go.

One `asyncio.Lock` guards the `loaded` map (one runner per model file, as Ollama
keys runners by blob). Loads are serialised by a second lock so that requests for
models already loaded never wait behind a load, and each load runs as its own task:
every request for that model awaits it through `asyncio.shield`, so a client that
disconnects stops waiting without aborting a load others still wait for.

Fitting a model (`_make_room`): the footprint is estimated for each `num_parallel`
candidate (4, 3, 2, 1 when automatic), placed against free VRAM and RAM
(`placement.place`), and idle runners are evicted, shortest keep-alive first, until
the largest candidate fits entirely on the GPU (or in RAM on the CPU path). When no
idle runner is left, a partial GPU offload is accepted; when nothing fits with
nothing else loaded, `InsufficientMemory` says how much is needed and how much is
free. The scheduler knows runners only through `RunnerHandle` and receives its
collaborators as arguments, so tests drive it with fakes and injected memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from corral.daemon.placement import GPU_RESERVE, Placement, place
from corral.daemon.runners import RunnerHandle, RunnerSpec
from corral.errors import InsufficientMemory, QueueFull, RunnerError, ShuttingDown
from corral.gguf import MemoryEstimate
from corral.gpu import MemorySnapshot

__all__ = ["MODELS_PER_GPU", "PARALLEL_CHOICES", "LoadedRunner", "Scheduler"]

logger = logging.getLogger(__name__)

StartRunner = Callable[[RunnerSpec, float], Awaitable[RunnerHandle]]
Estimate = Callable[[RunnerSpec], Awaitable[MemoryEstimate]]

MODELS_PER_GPU = 3
"""Runners kept per GPU (or on the CPU) when CORRAL_MAX_LOADED_MODELS is 0."""
PARALLEL_CHOICES = (4, 3, 2, 1)
"""Sequences per runner tried, largest first, when CORRAL_NUM_PARALLEL is 0."""

_BUSY = "server busy, please try again.  maximum pending requests exceeded"
_CLOSING = "the server is shutting down; the request was not finished"


@dataclass(eq=False)
class LoadedRunner:
    """A runner in the `loaded` map, with the bookkeeping the scheduler needs."""

    name: str
    spec: RunnerSpec
    handle: RunnerHandle
    size: int
    keep_alive: float
    size_vram: int = 0
    """Bytes of the estimate placed on GPUs."""
    info: dict[str, Any] = field(default_factory=dict)
    refcount: int = 0
    waiting: int = 0
    """Requests waiting for a sequence slot."""
    active: int = 0
    """Requests holding a sequence slot."""
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


@dataclass(eq=False)
class _Load:
    """A load in flight and the requests waiting for it."""

    spec: RunnerSpec
    task: asyncio.Task[LoadedRunner] | None = None
    waiters: int = 0
    runner: LoadedRunner | None = None
    """Set once loaded; holds one reference until the last waiter has taken its own."""
    unload: bool = False
    """Asked to unload while loading: serve the waiters, then go (keep-alive 0)."""


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
        estimate: predicted footprint of a spec (its `num_parallel` decided).
        max_loaded: most runners kept at once; 0 = `MODELS_PER_GPU` per GPU (or on CPU).
        max_queue: most requests allowed to wait for a runner or a slot.
        load_timeout: seconds a runner may take to load.
        default_keep_alive: seconds an idle runner stays when a request sets none.
        gpu_reserve: VRAM kept free per GPU.
    """

    def __init__(
        self,
        *,
        start_runner: StartRunner,
        memory: Callable[[], Awaitable[MemorySnapshot]],
        estimate: Estimate,
        max_loaded: int,
        max_queue: int,
        load_timeout: float,
        default_keep_alive: float,
        gpu_reserve: int = GPU_RESERVE,
    ) -> None:
        self._start_runner = start_runner
        self._memory = memory
        self._estimate = estimate
        self._max_loaded = max(0, max_loaded)
        self._max_queue = max_queue
        self._load_timeout = load_timeout
        self._default_keep_alive = default_keep_alive
        self._gpu_reserve = gpu_reserve
        self._loaded: dict[Path, LoadedRunner] = {}
        self._loads: dict[Path, _Load] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._load_lock = asyncio.Lock()
        self._idle = asyncio.Condition(self._lock)
        self._pending = 0
        self._closing = False

    # -- queries ---------------------------------------------------------------

    def running(self) -> list[LoadedRunner]:
        return list(self._loaded.values())

    @property
    def pending(self) -> int:
        """Requests that have not got a sequence slot yet (waiting for a load or a slot)."""
        return self._pending

    def loading(self) -> list[RunnerSpec]:
        """Specs of the loads in flight."""
        return [load.spec for load in self._loads.values()]

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
        """Hold one sequence slot of a runner for `spec`, loading it if needed.

        Raises:
            QueueFull: CORRAL_MAX_QUEUE requests are already waiting.
            InsufficientMemory: the model cannot fit even with every idle runner evicted.
            ShuttingDown: the daemon is stopping (also raised from inside the block
                when its runner is stopped by the shutdown).
        """
        runner = await self.acquire(name, spec, keep_alive=keep_alive, info=info)
        try:
            yield runner
        except RunnerError as exc:
            if self._closing:
                raise ShuttingDown(_CLOSING) from exc
            raise
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
        if self._closing:
            raise ShuttingDown(_CLOSING)
        if self._pending >= self._max_queue:
            raise QueueFull(_BUSY)
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
            runner.active += 1
            return runner
        finally:
            self._pending -= 1

    def _take(self, runner: LoadedRunner, name: str, keep_alive: float | None) -> LoadedRunner:
        """Count one more request against `runner` (caller holds the lock).

        Models that share one GGUF share its runner; `/api/ps` then shows the name the
        latest request used, which is the one its user just ran.
        """
        self._cancel_timer(runner)
        runner.name = name
        runner.refcount += 1
        runner.expires_at = None
        if keep_alive is not None:
            runner.keep_alive = keep_alive
        return runner

    def _usable(self, runner: LoadedRunner | None, spec: RunnerSpec) -> bool:
        return (
            runner is not None
            and runner.handle.alive
            and not runner.expire_when_idle
            and runner.spec.serves(spec)
            and self._loaded.get(spec.model_path) is runner
        )

    async def _reference(
        self, name: str, spec: RunnerSpec, keep_alive: float | None, info: dict[str, Any]
    ) -> LoadedRunner:
        """Find or load the runner and count this request against it."""
        key = spec.model_path
        while True:
            async with self._lock:
                if self._closing:
                    raise ShuttingDown(_CLOSING)
                runner = self._loaded.get(key)
                if runner is not None and not runner.handle.alive and runner.idle:
                    logger.warning("runner for %s died; reloading", name)
                    await self._drop(runner)
                    runner = None
                if self._usable(runner, spec):
                    assert runner is not None
                    return self._take(runner, name, keep_alive)
                load = self._loads.get(key)
                if load is None:
                    load = _Load(spec)
                    load.task = asyncio.create_task(self._load(load, name, keep_alive, info))
                    load.task.add_done_callback(_retrieve)
                    self._loads[key] = load
                load.waiters += 1
            assert load.task is not None
            try:
                try:
                    loaded = await asyncio.shield(load.task)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if load.task.cancelled() and not (task and task.cancelling()):
                        raise ShuttingDown(_CLOSING) from None
                    raise
                async with self._lock:
                    if self._usable(loaded, spec):
                        return self._take(loaded, name, keep_alive)
                # Loaded with other settings (a concurrent request's): go round again.
            finally:
                load.waiters -= 1
                if load.waiters == 0:
                    await self._release_load(load)

    async def _release_load(self, load: _Load) -> None:
        """Drop the reference a finished load holds, once nobody waits for it."""
        runner, load.runner = load.runner, None
        if runner is not None:
            await self._dereference(runner)

    async def _load(
        self, load: _Load, name: str, keep_alive: float | None, info: dict[str, Any]
    ) -> LoadedRunner:
        key = load.spec.model_path
        try:
            async with self._load_lock:
                spec, placement = await self._make_room(name, load.spec)
                handle = await self._start_runner(spec, self._load_timeout)
                runner = LoadedRunner(
                    name=name,
                    spec=spec,
                    handle=handle,
                    size=placement.size,
                    size_vram=placement.size_vram,
                    keep_alive=self._default_keep_alive if keep_alive is None else keep_alive,
                    info=info,
                    refcount=1,  # the load's own, until its waiters hold theirs
                )
                if load.unload:
                    runner.keep_alive = 0
                async with self._lock:
                    if self._closing:
                        await handle.close()
                        raise ShuttingDown(_CLOSING)
                    self._loaded[key] = runner
                    load.runner = runner
                logger.info(
                    "loaded model=%s pid=%s ctx=%d parallel=%d gpu_layers=%d size=%d vram=%d",
                    name,
                    handle.pid,
                    spec.num_ctx,
                    spec.num_parallel,
                    spec.num_gpu if spec.num_gpu is not None else -1,
                    placement.size,
                    placement.size_vram,
                )
        finally:
            if self._loads.get(key) is load:
                del self._loads[key]
        if load.waiters == 0:
            await self._release_load(load)  # every requester left while it loaded
        return runner

    # -- fitting -------------------------------------------------------------------

    async def _candidates(self, spec: RunnerSpec) -> list[tuple[RunnerSpec, MemoryEstimate]]:
        choices: Sequence[int] = (
            PARALLEL_CHOICES if spec.num_parallel == 0 else (spec.num_parallel,)
        )
        result = []
        for parallel in choices:
            candidate = replace(spec, num_parallel=parallel)
            result.append((candidate, await self._estimate(candidate)))
        return result

    def _available(
        self, snapshot: MemorySnapshot, baseline: tuple[int, int], freed: tuple[int, int]
    ) -> tuple[int, int]:
        """Free VRAM and RAM to plan with.

        Memory reports can lag an unload (VRAM is released asynchronously), so what
        this round evicted counts as free until the report catches up. Reports can
        also overstate: mmapped weights are page cache, which RAM "available"
        includes. So the figure is capped by total minus what our runners hold.
        """
        held_vram = sum(r.size_vram for r in self._loaded.values())
        held_ram = sum(r.size - r.size_vram for r in self._loaded.values())
        vram = min(max(snapshot.free_vram, baseline[0] + freed[0]), snapshot.total_vram - held_vram)
        ram = min(max(snapshot.free_ram, baseline[1] + freed[1]), snapshot.total_ram - held_ram)
        return max(0, vram), max(0, ram)

    def _limit(self, snapshot: MemorySnapshot) -> int:
        return self._max_loaded or MODELS_PER_GPU * max(1, len(snapshot.gpus))

    async def _make_room(self, name: str, spec: RunnerSpec) -> tuple[RunnerSpec, Placement]:
        """Evict idle runners until `spec` fits in count and in memory; decide its settings.

        The same model loaded with other settings is replaced; otherwise idle
        runners go shortest keep-alive first. When everything is busy, wait for
        a runner to become idle (at the count limit, the shortest keep-alive is
        marked to unload when its requests finish).
        """
        candidates = await self._candidates(spec)
        key = spec.model_path
        baseline: tuple[int, int] | None = None
        freed = (0, 0)
        while True:
            async with self._lock:
                if baseline is None:
                    before = await self._memory()
                    baseline = (before.free_vram, before.free_ram)
                stale = self._loaded.get(key)
                if stale is not None:
                    if not stale.idle:
                        stale.expire_when_idle = True
                        await self._idle.wait()
                        baseline, freed = None, (0, 0)
                        continue
                    freed = (freed[0] + stale.size_vram, freed[1] + stale.size - stale.size_vram)
                    await self._drop(stale)
                snapshot = await self._memory()
                free_vram, free_ram = self._available(snapshot, baseline, freed)
                gpus = len(snapshot.gpus)
                placements = [
                    (
                        s,
                        place(
                            e,
                            free_vram=free_vram,
                            gpu_count=gpus,
                            num_gpu=spec.num_gpu,
                            reserve=self._gpu_reserve,
                        ),
                    )
                    for s, e in candidates
                ]
                room = len(self._loaded) < self._limit(snapshot)
                if room:
                    for candidate, placement in placements:
                        preferred = gpus == 0 or spec.num_gpu is not None or placement.all_on_gpu
                        if preferred and placement.fits(free_ram):
                            return _decided(candidate, placement), placement
                victims = sorted(
                    (r for r in self._loaded.values() if r.idle),
                    key=lambda r: (r.keep_alive, str(r.spec.model_path)),
                )
                if victims:
                    victim = victims[0]
                    logger.info("evicting model=%s to make room for %s", victim.name, name)
                    freed = (freed[0] + victim.size_vram, freed[1] + victim.size - victim.size_vram)
                    await self._drop(victim)
                    continue
                if room:
                    for candidate, placement in placements:
                        if placement.fits(free_ram):
                            return _decided(candidate, placement), placement
                    if not self._loaded:
                        need = placements[-1][1].size
                        have = max(0, placements[-1][1].vram_budget) + free_ram
                        raise InsufficientMemory(
                            f"model requires more system memory ({_human(need)}) than is"
                            f" available ({_human(have)}) to load {name} with num_ctx"
                            f" {spec.num_ctx}; lower num_ctx or free memory"
                        )
                else:
                    shortest = min(self._loaded.values(), key=lambda r: r.keep_alive)
                    shortest.expire_when_idle = True
                await self._idle.wait()
                baseline, freed = None, (0, 0)

    # -- releasing -----------------------------------------------------------------

    async def release(self, runner: LoadedRunner) -> None:
        runner.active -= 1
        runner.slots.release()
        await self._dereference(runner)

    async def _dereference(self, runner: LoadedRunner) -> None:
        async with self._lock:
            runner.refcount -= 1
            if runner.refcount > 0:
                return
            if self._closing:
                pass
            elif not runner.handle.alive or runner.expire_when_idle or runner.keep_alive <= 0:
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
        runner._timer = loop.call_later(runner.keep_alive, self._spawn_expire, runner)

    def _spawn_expire(self, runner: LoadedRunner) -> None:
        task = asyncio.create_task(self._expire(runner))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _cancel_timer(runner: LoadedRunner) -> None:
        if runner._timer is not None:
            runner._timer.cancel()
            runner._timer = None

    async def _expire(self, runner: LoadedRunner) -> None:
        async with self._lock:
            if runner.idle and self._loaded.get(runner.spec.model_path) is runner:
                logger.info("keep-alive expired model=%s", runner.name)
                await self._drop(runner)
                self._idle.notify_all()

    async def unload(self, model_path: str) -> bool:
        """Unload a model's runner now if idle, else when its requests finish.

        A model still loading finishes loading, serves the requests waiting for it
        and then unloads.
        """
        found = False
        async with self._lock:
            for load in self._loads.values():
                if str(load.spec.model_path) == model_path:
                    found = load.unload = True
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
        if self._loaded.get(runner.spec.model_path) is runner:
            del self._loaded[runner.spec.model_path]
        await runner.handle.close()

    async def shutdown(self) -> None:
        """Refuse new requests, cancel loads in flight and stop every runner.

        Requests streaming from a runner see it stop and end with `ShuttingDown`.
        """
        self._closing = True
        loads = [load.task for load in self._loads.values() if load.task is not None]
        for task in loads:
            task.cancel()
        await asyncio.gather(*loads, return_exceptions=True)
        async with self._lock:
            runners = list(self._loaded.values())
            self._loaded.clear()
            self._idle.notify_all()
        for runner in runners:
            self._cancel_timer(runner)
        for expiry in list(self._tasks):
            expiry.cancel()
        await asyncio.gather(*(r.handle.close() for r in runners), return_exceptions=True)


def _decided(spec: RunnerSpec, placement: Placement) -> RunnerSpec:
    """The spec a runner starts with: layers from the placement unless the request set them."""
    return spec if spec.num_gpu is not None else replace(spec, num_gpu=placement.num_gpu)


def _retrieve(task: asyncio.Task[LoadedRunner]) -> None:
    """Mark a load's failure as seen; its waiters got it (or all had left)."""
    if not task.cancelled():
        task.exception()

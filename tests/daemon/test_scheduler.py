"""The scheduler's decisions, driven with fake runners and injected memory figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from corral.daemon.runners import RunnerSpec
from corral.daemon.scheduler import Scheduler
from corral.errors import InsufficientMemory, QueueFull
from corral.gguf import MemoryEstimate
from corral.gpu import GpuInfo, MemorySnapshot


@dataclass(eq=False)
class FakeRunner:
    spec: RunnerSpec
    alive: bool = True
    closed: bool = False
    pid: int | None = 1234

    def completion(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    async def tokenize(self, text: str) -> list[int]:
        return []

    async def close(self) -> None:
        self.closed = True
        self.alive = False


def footprint(weights: int, kv: int = 0, compute: int = 0, blocks: int = 0, head: int = 0):
    """A MemoryEstimate whose `blocks` layers share weights-minus-head and the KV cache."""
    layers = tuple([(weights - head + kv) // blocks] * blocks) if blocks else ()
    return MemoryEstimate(weights=weights, kv_cache=kv, compute=compute, layers=layers)


@dataclass
class World:
    free: int = 10_000
    total: int = 20_000
    sizes: dict[str, int] = field(default_factory=dict)
    kv_per_seq: dict[str, int] = field(default_factory=dict)
    blocks: int = 0
    started: list[FakeRunner] = field(default_factory=list)
    specs: list[RunnerSpec] = field(default_factory=list)
    gpus: tuple[GpuInfo, ...] = ()
    gate: asyncio.Event | None = None
    fail: Exception | None = None

    async def start(self, spec: RunnerSpec, load_timeout: float) -> FakeRunner:
        self.specs.append(spec)
        runner = FakeRunner(spec)
        self.started.append(runner)
        try:
            if self.gate is not None:
                await self.gate.wait()
        except BaseException:
            await runner.close()
            raise
        if self.fail is not None:
            await runner.close()
            raise self.fail
        return runner

    async def memory(self) -> MemorySnapshot:
        return MemorySnapshot(total_ram=self.total, free_ram=self.free, gpus=self.gpus)

    async def estimate(self, spec: RunnerSpec) -> MemoryEstimate:
        name = spec.model_path.name
        kv = self.kv_per_seq.get(name, 0) * spec.num_parallel
        return footprint(self.sizes.get(name, 100), kv, blocks=self.blocks)

    def scheduler(self, **overrides: Any) -> Scheduler:
        settings: dict[str, Any] = {
            "max_loaded": 3,
            "max_queue": 512,
            "load_timeout": 5.0,
            "default_keep_alive": 300.0,
            "gpu_reserve": 0,
        }
        settings.update(overrides)
        return Scheduler(
            start_runner=self.start, memory=self.memory, estimate=self.estimate, **settings
        )


def spec(
    name: str, num_ctx: int = 2048, parallel: int = 1, num_gpu: int | None = None
) -> RunnerSpec:
    return RunnerSpec(
        model_path=Path(name), num_ctx=num_ctx, num_parallel=parallel, num_gpu=num_gpu
    )


async def test_loaded_runner_is_reused() -> None:
    world = World()
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    async with scheduler.use("a", spec("a"), keep_alive=None) as runner:
        assert runner.refcount == 1
    assert len(world.started) == 1
    assert scheduler.running()[0].expires_at is not None


async def test_at_max_loaded_the_shortest_keep_alive_idle_runner_goes() -> None:
    world = World()
    scheduler = world.scheduler(max_loaded=2)
    async with scheduler.use("a", spec("a"), keep_alive=600):
        pass
    async with scheduler.use("b", spec("b"), keep_alive=60):
        pass
    async with scheduler.use("c", spec("c"), keep_alive=None):
        pass
    names = sorted(r.name for r in scheduler.running())
    assert names == ["a", "c"]
    assert world.started[1].closed


async def test_memory_pressure_evicts_idle_runner() -> None:
    world = World(free=1000, sizes={"a": 600, "b": 600})
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    world.free = 400  # a is resident now
    async with scheduler.use("b", spec("b"), keep_alive=None):
        pass
    assert [r.name for r in scheduler.running()] == ["b"]


async def test_model_that_cannot_fit_says_how_much() -> None:
    gib = 1024 * 1024 * 1024
    world = World(free=gib, total=2 * gib, sizes={"huge": 5 * gib})
    scheduler = world.scheduler()
    with pytest.raises(InsufficientMemory) as caught:
        await scheduler.acquire("huge", spec("huge"), keep_alive=None)
    assert "5.0 GiB" in str(caught.value) and "1.0 GiB" in str(caught.value)
    assert world.started == []


async def test_gpu_and_system_memory_both_count() -> None:
    gpu = GpuInfo(index=0, name="Fake", total=8000, free=500)
    world = World(free=50, sizes={"a": 600, "b": 500}, gpus=(gpu,))
    scheduler = world.scheduler()
    with pytest.raises(InsufficientMemory):
        await scheduler.acquire("a", spec("a"), keep_alive=None)
    async with scheduler.use("b", spec("b"), keep_alive=None):
        pass
    assert [r.name for r in scheduler.running()] == ["b"]


async def test_queue_full_is_503() -> None:
    world = World()
    scheduler = world.scheduler(max_queue=1)
    holder = await scheduler.acquire("a", spec("a"), keep_alive=None)
    waiter = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None))
    await asyncio.sleep(0.01)
    with pytest.raises(QueueFull) as caught:
        await scheduler.acquire("a", spec("a"), keep_alive=None)
    assert caught.value.status == 503
    assert "maximum pending requests exceeded" in str(caught.value)
    await scheduler.release(holder)
    await scheduler.release(await waiter)


async def test_keep_alive_zero_unloads_after_the_request() -> None:
    world = World()
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=0):
        assert scheduler.running()
    assert scheduler.running() == []
    assert world.started[0].closed


async def test_keep_alive_expiry_unloads_idle_runner() -> None:
    world = World()
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=0.05):
        pass
    for _ in range(100):
        if not scheduler.running():
            break
        await asyncio.sleep(0.02)
    assert scheduler.running() == []


async def test_request_without_keep_alive_keeps_current_duration() -> None:
    world = World()
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=1000):
        pass
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    assert scheduler.running()[0].keep_alive == 1000


async def test_dead_runner_is_replaced() -> None:
    world = World()
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    world.started[0].alive = False
    async with scheduler.use("a", spec("a"), keep_alive=None) as runner:
        assert runner.handle is world.started[1]
    assert len(scheduler.running()) == 1


async def test_unload_of_busy_runner_waits_for_the_request() -> None:
    world = World()
    scheduler = world.scheduler()
    runner = await scheduler.acquire("a", spec("a"), keep_alive=None)
    assert await scheduler.unload("a")
    assert scheduler.running()  # still serving
    await scheduler.release(runner)
    assert scheduler.running() == []
    assert not await scheduler.unload("a")


async def test_different_num_ctx_reloads_the_model() -> None:
    world = World()
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a", num_ctx=2048), keep_alive=None):
        pass
    async with scheduler.use("a", spec("a", num_ctx=4096), keep_alive=None):
        pass
    assert [r.spec.num_ctx for r in scheduler.running()] == [4096]
    assert world.started[0].closed


async def test_parallel_slots_limit_concurrent_use() -> None:
    world = World()
    scheduler = world.scheduler()
    first = await scheduler.acquire("a", spec("a", parallel=2), keep_alive=None)
    second = await scheduler.acquire("a", spec("a", parallel=2), keep_alive=None)
    third = asyncio.create_task(scheduler.acquire("a", spec("a", parallel=2), keep_alive=None))
    await asyncio.sleep(0.01)
    assert not third.done()
    assert scheduler.running()[0].waiting == 1
    await scheduler.release(first)
    await scheduler.release(await third)
    await scheduler.release(second)
    assert len(world.started) == 1


async def test_cancelled_waiter_does_not_leak_a_reference() -> None:
    world = World()
    scheduler = world.scheduler()
    holder = await scheduler.acquire("a", spec("a"), keep_alive=None)
    waiter = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await scheduler.release(holder)
    assert scheduler.running()[0].refcount == 0
    assert scheduler.pending == 0


async def test_shutdown_closes_everything() -> None:
    world = World()
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    async with scheduler.use("b", spec("b"), keep_alive=None):
        pass
    await scheduler.shutdown()
    assert scheduler.running() == []
    assert all(r.closed for r in world.started)

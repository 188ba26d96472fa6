"""The scheduler's decisions, driven with fake runners and injected memory figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from corral.daemon.runners import RunnerSpec
from corral.daemon.runnerstream import Forward
from corral.daemon.scheduler import Scheduler
from corral.errors import InsufficientMemory, QueueFull, RunnerCrashed, ShuttingDown
from corral.gguf import MemoryEstimate
from corral.gpu import GpuInfo, MemorySnapshot


@dataclass(eq=False)
class FakeRunner:
    spec: RunnerSpec
    alive: bool = True
    closed: bool = False
    pid: int | None = 1234

    def completion(
        self, payload: dict[str, Any], *, forward: Forward | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    async def tokenize(self, text: str) -> list[int]:
        return []

    async def close(self) -> None:
        self.closed = True
        self.alive = False


def footprint(
    weights: int, kv: int = 0, compute: int = 0, blocks: int = 0, head: int = 0
) -> MemoryEstimate:
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


# -- automatic settings ------------------------------------------------------------


async def test_automatic_parallel_takes_four_when_they_fit() -> None:
    world = World(free=10_000, sizes={"a": 1000}, kv_per_seq={"a": 500})
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a", parallel=0), keep_alive=None) as runner:
        assert runner.spec.num_parallel == 4
        assert runner.slots._value == 3  # one held by us, three free
    assert world.specs[0].num_parallel == 4
    assert scheduler.running()[0].size == 1000 + 4 * 500


async def test_automatic_parallel_falls_back_to_what_fits() -> None:
    # 4 sequences need 3000, 3 need 2500, 2 need 2000: only 2 fit in 2200.
    world = World(free=2200, sizes={"a": 1000}, kv_per_seq={"a": 500})
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a", parallel=0), keep_alive=None) as runner:
        assert runner.spec.num_parallel == 2
    world.free = 1600
    await scheduler.unload("a")
    async with scheduler.use("a", spec("a", parallel=0), keep_alive=None) as runner:
        assert runner.spec.num_parallel == 1


async def test_explicit_parallel_is_used_as_is_and_can_fail_to_fit() -> None:
    world = World(free=2200, sizes={"a": 1000}, kv_per_seq={"a": 500})
    scheduler = world.scheduler()
    with pytest.raises(InsufficientMemory):
        await scheduler.acquire("a", spec("a", parallel=4), keep_alive=None)
    async with scheduler.use("a", spec("a", parallel=2), keep_alive=None) as runner:
        assert runner.spec.num_parallel == 2


async def test_automatic_request_reuses_runner_loaded_with_decided_parallel() -> None:
    world = World(sizes={"a": 1000}, kv_per_seq={"a": 100})
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a", parallel=0), keep_alive=None):
        pass
    async with scheduler.use("a", spec("a", parallel=0), keep_alive=None):
        pass
    assert len(world.started) == 1
    async with scheduler.use("a", spec("a", parallel=1), keep_alive=None):
        pass  # an explicit, different value reloads
    assert len(world.started) == 2


@pytest.mark.parametrize(("gpus", "limit"), [(0, 3), (1, 3), (2, 6)])
async def test_automatic_max_loaded_is_three_per_gpu(gpus: int, limit: int) -> None:
    cards = tuple(GpuInfo(index=i, name="Fake", total=10**9, free=10**9) for i in range(gpus))
    world = World(free=10**9, total=10**10, gpus=cards)
    scheduler = world.scheduler(max_loaded=0)
    for index in range(limit + 1):
        async with scheduler.use(f"m{index}", spec(f"m{index}"), keep_alive=100 + index):
            pass
    assert len(scheduler.running()) == limit
    assert world.started[0].closed  # the shortest keep-alive went
    assert "m0" not in {r.name for r in scheduler.running()}


# -- GPU placement -------------------------------------------------------------------


def gpu(free: int, total: int = 100_000, index: int = 0) -> GpuInfo:
    return GpuInfo(index=index, name="Fake", total=total, free=free)


async def test_model_that_fits_the_gpu_goes_there_whole() -> None:
    world = World(free=10_000, sizes={"a": 3000}, blocks=10, gpus=(gpu(8000),))
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    loaded = scheduler.running()[0]
    assert world.specs[0].num_gpu == -1
    assert loaded.size_vram == loaded.size == 3000


async def test_cpu_path_offloads_nothing() -> None:
    world = World(free=10_000, sizes={"a": 3000}, blocks=10)
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    assert world.specs[0].num_gpu == 0
    assert scheduler.running()[0].size_vram == 0


async def test_gpu_reserve_is_kept_free() -> None:
    world = World(free=10_000, sizes={"a": 3000}, blocks=10, gpus=(gpu(3200),))
    scheduler = world.scheduler(gpu_reserve=500)
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    assert world.specs[0].num_gpu == 9  # 2700 of VRAM: 9 blocks of 300 (head 0)


async def test_idle_runner_on_the_gpu_is_evicted_before_a_partial_offload() -> None:
    world = World(free=10_000, sizes={"a": 3000, "b": 3000}, blocks=10, gpus=(gpu(4000),))
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    world.gpus = (gpu(1000),)  # a holds 3000 of it now
    async with scheduler.use("b", spec("b"), keep_alive=None):
        pass
    assert [r.name for r in scheduler.running()] == ["b"]
    assert world.specs[1].num_gpu == -1  # the freed VRAM counts before the report catches up


async def test_busy_runner_stays_and_the_new_model_is_split() -> None:
    # b: 2000 of weights with no head, 10 blocks of 200, compute 0; 1100 of VRAM left.
    world = World(free=10_000, sizes={"a": 3000, "b": 2000}, blocks=10, gpus=(gpu(4100),))
    scheduler = world.scheduler()
    holder = await scheduler.acquire("a", spec("a"), keep_alive=None)
    world.gpus = (gpu(1100),)
    async with scheduler.use("b", spec("b"), keep_alive=None) as runner:
        assert runner.spec.num_gpu == 5
        assert runner.size_vram == 1000 and runner.size == 2000
    assert {r.name for r in scheduler.running()} == {"a", "b"}
    await scheduler.release(holder)


async def test_request_num_gpu_is_passed_through_without_evicting() -> None:
    world = World(free=10_000, sizes={"a": 3000, "b": 2000}, blocks=10, gpus=(gpu(4000),))
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    world.gpus = (gpu(1000),)
    async with scheduler.use("b", spec("b", num_gpu=3), keep_alive=None) as runner:
        assert runner.spec.num_gpu == 3 and runner.size_vram == 600
    assert {r.name for r in scheduler.running()} == {"a", "b"}


async def test_reported_free_memory_is_capped_by_what_runners_hold() -> None:
    # mmapped weights are page cache: "available" RAM does not drop when a model loads.
    world = World(free=1000, total=1000, sizes={"a": 600, "b": 600})
    scheduler = world.scheduler()
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    async with scheduler.use("b", spec("b"), keep_alive=None):
        pass
    assert [r.name for r in scheduler.running()] == ["b"]


async def test_equal_keep_alives_evict_by_model_path() -> None:
    world = World()
    scheduler = world.scheduler(max_loaded=2)
    for name in ("b", "a", "c"):
        async with scheduler.use(name, spec(name), keep_alive=60):
            pass
    assert sorted(r.name for r in scheduler.running()) == ["b", "c"]


async def test_busy_runners_are_waited_for_not_evicted() -> None:
    world = World()
    scheduler = world.scheduler(max_loaded=1)
    holder = await scheduler.acquire("a", spec("a"), keep_alive=None)
    other = asyncio.create_task(scheduler.acquire("b", spec("b"), keep_alive=None))
    await asyncio.sleep(0.05)
    assert not other.done() and not world.started[0].closed
    await scheduler.release(holder)
    runner = await other
    assert runner.name == "b" and world.started[0].closed
    await scheduler.release(runner)


async def test_insufficient_memory_names_model_need_and_free() -> None:
    mib = 1024 * 1024
    world = World(free=300 * mib, total=10**10, sizes={"big": 900 * mib})
    scheduler = world.scheduler()
    with pytest.raises(InsufficientMemory) as caught:
        await scheduler.acquire("big", spec("big", num_ctx=8192), keep_alive=None)
    text = str(caught.value)
    assert "900.0 MiB" in text and "300.0 MiB" in text and "big" in text and "8192" in text
    assert caught.value.status == 500
    assert scheduler.pending == 0 and scheduler.loading() == []


# -- loads as their own task --------------------------------------------------------


async def test_cancelling_the_first_waiter_does_not_abort_the_load() -> None:
    gate = asyncio.Event()
    world = World(gate=gate)
    scheduler = world.scheduler()
    first = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None))
    second = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None))
    await asyncio.sleep(0.05)
    assert len(world.started) == 1
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not world.started[0].closed
    gate.set()
    runner = await second
    assert runner.handle is world.started[0] and runner.refcount == 1
    await scheduler.release(runner)
    assert len(world.started) == 1 and not world.started[0].closed
    assert scheduler.pending == 0


async def test_load_left_by_every_waiter_completes_and_expires_normally() -> None:
    gate = asyncio.Event()
    world = World(gate=gate)
    scheduler = world.scheduler()
    waiter = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=0.05))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    for _ in range(50):
        if scheduler.running():
            break
        await asyncio.sleep(0.01)
    assert scheduler.running() and scheduler.running()[0].refcount == 0
    for _ in range(100):
        if not scheduler.running():
            break
        await asyncio.sleep(0.02)
    assert scheduler.running() == [] and world.started[0].closed


async def test_keep_alive_zero_load_serves_every_waiter_before_unloading() -> None:
    gate = asyncio.Event()
    world = World(gate=gate)
    scheduler = world.scheduler()
    waiters = [
        asyncio.create_task(scheduler.acquire("a", spec("a", parallel=2), keep_alive=0))
        for _ in range(2)
    ]
    await asyncio.sleep(0.05)
    gate.set()
    runners = await asyncio.gather(*waiters)
    assert runners[0] is runners[1] and runners[0].refcount == 2
    await scheduler.release(runners[0])
    assert scheduler.running()
    await scheduler.release(runners[1])
    assert scheduler.running() == [] and len(world.started) == 1


async def test_load_failure_reaches_every_waiter_and_the_next_request_retries() -> None:
    from corral.errors import RunnerStartFailed

    gate = asyncio.Event()
    world = World(gate=gate, fail=RunnerStartFailed("runner failed to load: boom"))
    scheduler = world.scheduler()
    waiters = [
        asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None)) for _ in range(2)
    ]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RunnerStartFailed) for r in results)
    assert len(world.started) == 1 and scheduler.running() == []
    world.fail = None
    async with scheduler.use("a", spec("a"), keep_alive=None):
        pass
    assert len(world.started) == 2


async def test_queue_counts_requests_waiting_for_a_load() -> None:
    gate = asyncio.Event()
    world = World(gate=gate)
    scheduler = world.scheduler(max_queue=2)
    waiters = [
        asyncio.create_task(scheduler.acquire(n, spec(n), keep_alive=None)) for n in ("a", "b")
    ]
    await asyncio.sleep(0.05)
    with pytest.raises(QueueFull) as caught:
        await scheduler.acquire("c", spec("c"), keep_alive=None)
    assert str(caught.value) == "server busy, please try again.  maximum pending requests exceeded"
    gate.set()
    for runner in await asyncio.gather(*waiters):
        await scheduler.release(runner)
    assert scheduler.pending == 0


# -- shutdown ------------------------------------------------------------------------


async def test_shutdown_cancels_a_load_and_its_waiters_hear_why() -> None:
    gate = asyncio.Event()
    world = World(gate=gate)
    scheduler = world.scheduler()
    waiter = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None))
    await asyncio.sleep(0.05)
    await scheduler.shutdown()
    with pytest.raises(ShuttingDown):
        await waiter
    assert world.started[0].closed and scheduler.running() == []
    with pytest.raises(ShuttingDown) as caught:
        await scheduler.acquire("a", spec("a"), keep_alive=None)
    assert caught.value.status == 503


async def test_runner_stopped_by_shutdown_ends_the_request_with_shutting_down() -> None:
    world = World()
    scheduler = world.scheduler()
    with pytest.raises(ShuttingDown):
        async with scheduler.use("a", spec("a"), keep_alive=None):
            await scheduler.shutdown()
            raise RunnerCrashed("model runner has unexpectedly stopped (signal 15): gone")
    assert world.started[0].closed


async def test_runner_error_outside_shutdown_is_not_rewritten() -> None:
    world = World()
    scheduler = world.scheduler()
    with pytest.raises(RunnerCrashed):
        async with scheduler.use("a", spec("a"), keep_alive=None):
            raise RunnerCrashed("model runner has unexpectedly stopped (signal 9): gone")


async def test_runner_marked_to_unload_is_not_handed_to_new_requests() -> None:
    world = World()
    scheduler = world.scheduler()
    holder = await scheduler.acquire("a", spec("a", parallel=2), keep_alive=None)
    assert await scheduler.unload("a")
    newcomer = asyncio.create_task(scheduler.acquire("a", spec("a", parallel=2), keep_alive=None))
    await asyncio.sleep(0.05)
    assert not newcomer.done()  # a free slot, but the runner is going away
    await scheduler.release(holder)
    runner = await newcomer
    assert world.started[0].closed and runner.handle is world.started[1]
    await scheduler.release(runner)


async def test_unload_while_loading_serves_the_waiter_then_unloads() -> None:
    gate = asyncio.Event()
    world = World(gate=gate)
    scheduler = world.scheduler()
    waiter = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None))
    await asyncio.sleep(0.05)
    assert await scheduler.unload("a")
    gate.set()
    runner = await waiter
    assert runner.handle is world.started[0] and scheduler.running()
    await scheduler.release(runner)
    assert scheduler.running() == [] and world.started[0].closed


async def test_unload_while_loading_with_nobody_waiting_unloads_once_loaded() -> None:
    gate = asyncio.Event()
    world = World(gate=gate)
    scheduler = world.scheduler()
    waiter = asyncio.create_task(scheduler.acquire("a", spec("a"), keep_alive=None))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await scheduler.unload("a")
    gate.set()
    for _ in range(100):
        if world.started[0].closed:
            break
        await asyncio.sleep(0.01)
    assert world.started[0].closed and scheduler.running() == []

"""`GET /api/system`: the daemon machine's GPUs, RAM and CPU, for the TUI's system panel.

The daemon may be remote, so the TUI cannot probe the hardware itself. The probe
(NVML and /proc) blocks, so it runs in a thread.

`?model=NAME[&num_ctx=N]` adds `fit`: the context the model would load with (the
`num_ctx` given, else its Modelfile's, else CORRAL_CONTEXT_LENGTH, capped at what it was
trained for) and the memory that takes, from the same estimate the scheduler uses.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from corral.api import merge_options
from corral.daemon.state import STATE
from corral.errors import InvalidRequest
from corral.gpu import MemorySnapshot, probe

__all__ = ["cpu_percent", "cpu_times", "fit_report", "parse_num_ctx", "system", "system_report"]

_STAT = Path("/proc/stat")


def cpu_times(stat: Path = _STAT) -> tuple[int, int] | None:
    """Busy and total jiffies of all CPUs since boot, or None where /proc/stat is missing."""
    try:
        first = stat.read_text().splitlines()[0].split()
        values = [int(v) for v in first[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
    except (OSError, IndexError, ValueError):
        return None
    total = sum(values[:8])
    return total - idle, total


def cpu_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """CPU use between two `cpu_times` samples, 0-100, or None when unknown."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def system_report(snapshot: MemorySnapshot, cpu: float | None) -> dict[str, Any]:
    """The JSON body of `/api/system` for one probe."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "gpus": [
            {
                "index": gpu.index,
                "name": gpu.name,
                "vram_total": gpu.total,
                "vram_used": gpu.total - gpu.free,
                "utilization": gpu.utilization,
                "temperature": gpu.temperature,
                "driver": gpu.driver,
            }
            for gpu in snapshot.gpus
        ],
        "memory": {"total": snapshot.total_ram, "available": snapshot.free_ram},
        "cpu": {"count": os.cpu_count() or 1, "percent": cpu, "load": load},
    }


def _sample() -> dict[str, Any]:
    before = cpu_times()
    time.sleep(0.1)
    snapshot = probe()
    return system_report(snapshot, cpu_percent(before, cpu_times()))


def parse_num_ctx(text: str | None) -> int | None:
    """The `num_ctx` query parameter: absent, or a positive whole number.

    Raises:
        InvalidRequest: anything else, naming the value.
    """
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InvalidRequest(f"num_ctx {text!r} is not a positive whole number")
    return int(text)


async def fit_report(request: web.Request, model: str, num_ctx: int | None) -> dict[str, Any]:
    """The context `model` would load with and the bytes that needs (`fit` of the report)."""
    state = request.app[STATE]
    facts = await state.facts(model)
    options = merge_options(facts.model.params, {} if num_ctx is None else {"num_ctx": num_ctx})
    spec = state.spec_for(facts, options)
    estimate = await state.estimate(spec)
    return {
        "model": facts.display_name,
        "num_ctx": spec.num_ctx,
        "trained_context": facts.context_length,
        "required": estimate.total,
        "weights": estimate.weights,
        "kv_cache": estimate.kv_cache,
        "compute": estimate.compute,
    }


async def system(request: web.Request) -> web.Response:
    model = request.query.get("model")
    num_ctx = parse_num_ctx(request.query.get("num_ctx"))
    fit = None if not model else await fit_report(request, model, num_ctx)
    report = await asyncio.to_thread(_sample)
    if fit is not None:
        report["fit"] = fit
    return web.json_response(report)

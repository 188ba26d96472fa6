"""GPU discovery (pynvml) and system memory, as one snapshot for scheduler and TUI.

On a machine without an NVIDIA driver pynvml fails to initialise; that is the
normal CPU case and is reported as "no GPUs" without noise on stderr.
`CUDA_VISIBLE_DEVICES` is honoured as CUDA reads it: a comma list of indices or
UUIDs (a unique prefix is enough) that selects and orders the GPUs, cut short at
the first entry that names no GPU; an empty value hides them all.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from corral import envconfig

__all__ = ["GpuInfo", "MemorySnapshot", "discover_gpus", "probe", "system_memory", "visible_gpus"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One GPU as NVML reports it; `index` is NVML's (PCI bus order)."""

    index: int
    name: str
    total: int
    free: int
    compute_capability: str = ""
    driver: str = ""
    utilization: int | None = None
    temperature: int | None = None
    uuid: str = ""


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """Free and total memory of the machine at one moment."""

    total_ram: int
    free_ram: int
    gpus: tuple[GpuInfo, ...] = field(default_factory=tuple)

    @property
    def total_vram(self) -> int:
        return sum(gpu.total for gpu in self.gpus)

    @property
    def free_vram(self) -> int:
        return sum(gpu.free for gpu in self.gpus)


def system_memory(meminfo: Path = Path("/proc/meminfo")) -> tuple[int, int]:
    """Total and available RAM in bytes (MemAvailable, as the kernel estimates it)."""
    try:
        fields = {}
        for line in meminfo.read_text().splitlines():
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0]) * 1024
        return fields["MemTotal"], fields.get("MemAvailable", fields.get("MemFree", 0))
    except (OSError, KeyError, ValueError, IndexError):
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return pages, pages // 2


def visible_gpus(gpus: Sequence[GpuInfo], selection: Sequence[str] | None) -> tuple[GpuInfo, ...]:
    """The GPUs a `CUDA_VISIBLE_DEVICES` selection leaves, in its order.

    `None` (variable unset) keeps all. Entries are NVML indices or UUIDs (`GPU-…`,
    any unique prefix); as in CUDA, the list ends at the first entry that names no
    GPU (an out-of-range index, `-1`, an unknown or ambiguous UUID, a repeat).
    """
    if selection is None:
        return tuple(gpus)
    chosen: list[GpuInfo] = []
    for entry in selection:
        match: GpuInfo | None = None
        if entry.lstrip("+-").isdigit():
            number = int(entry)
            match = next((gpu for gpu in gpus if gpu.index == number), None)
        else:
            prefix = entry if entry.upper().startswith(("GPU-", "MIG-")) else f"GPU-{entry}"
            found = [gpu for gpu in gpus if gpu.uuid.lower().startswith(prefix.lower())]
            match = found[0] if len(found) == 1 else None
        if match is None or match in chosen:
            break
        chosen.append(match)
    return tuple(chosen)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _load_pynvml() -> ModuleType | None:
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


def discover_gpus(nvml: ModuleType | None = None) -> tuple[GpuInfo, ...]:
    """Every NVIDIA GPU NVML reports, or none when there is no driver (silently).

    `nvml` replaces the `pynvml` module in tests.
    """
    nvml = nvml or _load_pynvml()
    if nvml is None:
        return ()
    try:
        nvml.nvmlInit()
    except Exception:  # no driver, no library: the CPU path
        return ()
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            uuid = ""
            utilization: int | None = None
            temperature: int | None = None
            try:
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            except Exception:
                pass
            try:
                utilization = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                temperature = int(nvml.nvmlDeviceGetTemperature(handle, 0))
            except Exception:
                pass  # some boards do not report these
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    total=int(memory.total),
                    free=int(memory.free),
                    compute_capability=f"{major}.{minor}",
                    driver=driver,
                    utilization=utilization,
                    temperature=temperature,
                    uuid=uuid,
                )
            )
        return tuple(gpus)
    except Exception as exc:
        logger.warning("GPU discovery failed: %s", exc)
        return ()
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def probe(nvml: ModuleType | None = None) -> MemorySnapshot:
    """Discover GPUs and RAM now (blocking; call it from a thread in async code).

    Only the GPUs `CUDA_VISIBLE_DEVICES` leaves visible are reported, since those
    are the ones the runners (which inherit the variable) can use.
    """
    total, free = system_memory()
    gpus = visible_gpus(discover_gpus(nvml), envconfig.cuda_visible_devices())
    return MemorySnapshot(total_ram=total, free_ram=free, gpus=gpus)

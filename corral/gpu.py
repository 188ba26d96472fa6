"""GPU discovery (pynvml) and system memory, as one snapshot for scheduler and TUI.

On a machine without an NVIDIA driver pynvml fails to initialise; that is the
normal CPU case and is reported as "no GPUs" without noise on stderr.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GpuInfo", "MemorySnapshot", "probe", "system_memory"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One GPU as NVML reports it."""

    index: int
    name: str
    total: int
    free: int
    compute_capability: str = ""
    driver: str = ""
    utilization: int | None = None
    temperature: int | None = None


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


def _nvidia_gpus() -> tuple[GpuInfo, ...]:
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no library: the CPU path
        return ()
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            utilization: int | None = None
            temperature: int | None = None
            try:
                utilization = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                temperature = int(pynvml.nvmlDeviceGetTemperature(handle, 0))
            except Exception:
                pass  # some boards do not report these
            gpus.append(
                GpuInfo(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    total=int(memory.total),
                    free=int(memory.free),
                    compute_capability=f"{major}.{minor}",
                    driver=driver,
                    utilization=utilization,
                    temperature=temperature,
                )
            )
        return tuple(gpus)
    except Exception as exc:
        logger.warning("GPU discovery failed: %s", exc)
        return ()
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def probe() -> MemorySnapshot:
    """Discover GPUs and RAM now (blocking; call it from a thread in async code)."""
    total, free = system_memory()
    return MemorySnapshot(total_ram=total, free_ram=free, gpus=_nvidia_gpus())

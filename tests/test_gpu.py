"""GPU discovery through a fake NVML, the silent CPU fallback and CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import pytest

from corral import gpu
from corral.gpu import GpuInfo, discover_gpus, probe, visible_gpus


class NVMLError(Exception):
    pass


def fake_nvml(cards: list[dict[str, Any]], *, init_fails: bool = False) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    calls: list[str] = []

    def init() -> None:
        calls.append("init")
        if init_fails:
            raise NVMLError("NVML Shared Library Not Found")

    def memory(handle: int) -> Any:
        return types.SimpleNamespace(total=cards[handle]["total"], free=cards[handle]["free"])

    def utilization(handle: int) -> Any:
        if cards[handle].get("no_util"):
            raise NVMLError("Not Supported")
        return types.SimpleNamespace(gpu=7)

    nvml.nvmlInit = init  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    nvml.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: len(cards)  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = memory  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetName = lambda h: cards[h]["name"].encode()  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCudaComputeCapability = lambda h: cards[h]["cc"]  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUUID = lambda h: cards[h]["uuid"]  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUtilizationRates = utilization  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetTemperature = lambda h, sensor: 41  # type: ignore[attr-defined]
    nvml.calls = calls  # type: ignore[attr-defined]
    return nvml


CARDS = [
    {
        "name": "NVIDIA H100",
        "total": 80 << 30,
        "free": 79 << 30,
        "cc": (9, 0),
        "uuid": "GPU-aaaa1111-0000-0000-0000-000000000000",
    },
    {
        "name": "NVIDIA L4",
        "total": 24 << 30,
        "free": 20 << 30,
        "cc": (8, 9),
        "uuid": "GPU-bbbb2222-0000-0000-0000-000000000000",
        "no_util": True,
    },
]


def test_discovery_reads_every_field() -> None:
    nvml = fake_nvml(CARDS)
    first, second = discover_gpus(nvml)
    assert first == GpuInfo(
        index=0,
        name="NVIDIA H100",
        total=80 << 30,
        free=79 << 30,
        compute_capability="9.0",
        driver="550.54.15",
        utilization=7,
        temperature=41,
        uuid="GPU-aaaa1111-0000-0000-0000-000000000000",
    )
    assert (second.name, second.compute_capability, second.utilization) == (
        "NVIDIA L4",
        "8.9",
        None,
    )
    assert second.uuid.startswith("GPU-bbbb")
    assert nvml.calls == ["init", "shutdown"]


def test_no_driver_is_the_cpu_path_and_silent(capfd: pytest.CaptureFixture[str]) -> None:
    assert discover_gpus(fake_nvml(CARDS, init_fails=True)) == ()
    assert capfd.readouterr() == ("", "")


def test_real_probe_without_a_driver_writes_nothing_to_stderr() -> None:
    # In a fresh process, so nothing imported earlier hides a library's own output.
    code = "from corral.gpu import probe; s = probe(); print(len(s.gpus), s.total_ram > 0)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr == ""
    count, ram = done.stdout.split()
    assert ram == "True"
    if int(count) == 0:  # this machine has no NVIDIA driver: the clean CPU fallback
        assert probe().gpus == ()


def test_failure_after_init_is_logged_and_means_no_gpus(caplog: pytest.LogCaptureFixture) -> None:
    nvml = fake_nvml(CARDS)

    def broken() -> int:
        raise NVMLError("Unknown Error")

    nvml.nvmlDeviceGetCount = broken  # type: ignore[attr-defined]
    assert discover_gpus(nvml) == ()
    assert "GPU discovery failed: Unknown Error" in caplog.text
    assert nvml.calls == ["init", "shutdown"]


GPUS = discover_gpus(fake_nvml([*CARDS, dict(CARDS[0], uuid="GPU-aaaa9999-0000")]))


@pytest.mark.parametrize(
    ("selection", "indices"),
    [
        (None, [0, 1, 2]),
        ([], []),
        (["1"], [1]),
        (["2", "0"], [2, 0]),  # CUDA's order is the variable's
        (["0", "7", "1"], [0]),  # stops at the first index that names no GPU
        (["-1", "0"], []),
        (["1", "1"], [1]),  # a repeat ends the list too
        (["GPU-bbbb2222"], [1]),
        (["bbbb2222-0000-0000-0000-000000000000"], [1]),  # UUID without the GPU- prefix
        (["GPU-aaaa"], []),  # ambiguous prefix
        (["GPU-AAAA9999", "1"], [2, 1]),
        (["GPU-ffff", "0"], []),
    ],
)
def test_cuda_visible_devices_selects_and_orders(
    selection: list[str] | None, indices: list[int]
) -> None:
    assert [g.index for g in visible_gpus(GPUS, selection)] == indices


def test_probe_honours_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(CARDS)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert len(probe(nvml).gpus) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", " 1 ")
    snapshot = probe(nvml)
    assert [g.name for g in snapshot.gpus] == ["NVIDIA L4"]
    assert snapshot.free_vram == 20 << 30 and snapshot.total_vram == 24 << 30
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert probe(nvml).gpus == ()


def test_system_memory_reads_meminfo(tmp_path: Any) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\n")
    assert gpu.system_memory(meminfo) == (1000 * 1024, 600 * 1024)
    meminfo.write_text("garbage")
    total, free = gpu.system_memory(meminfo)
    assert total > 0 and free > 0

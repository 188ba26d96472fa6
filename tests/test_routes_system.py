"""The pure parts of `GET /api/system`: CPU sampling and the report's shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.daemon.routes_system import cpu_percent, cpu_times, parse_num_ctx, system_report
from corral.errors import InvalidRequest
from corral.gpu import GpuInfo, MemorySnapshot


def test_cpu_times_reads_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert cpu_times(stat) == (150, 1000)
    assert cpu_times(tmp_path / "missing") is None
    stat.write_text("garbage\n")
    assert cpu_times(stat) is None


def test_cpu_percent() -> None:
    assert cpu_percent((100, 1000), (150, 1100)) == 50.0
    assert cpu_percent(None, (1, 2)) is None
    assert cpu_percent((1, 10), (1, 10)) is None


def test_report_without_gpu_and_with_one() -> None:
    report = system_report(MemorySnapshot(total_ram=1000, free_ram=400), 12.5)
    assert report["gpus"] == []
    assert report["memory"] == {"total": 1000, "available": 400}
    assert report["cpu"]["percent"] == 12.5
    gpu = GpuInfo(0, "H200", total=100, free=30, utilization=7, temperature=40)
    report = system_report(MemorySnapshot(1000, 400, (gpu,)), None)
    assert report["gpus"][0]["vram_used"] == 70
    assert report["gpus"][0]["utilization"] == 7


def test_num_ctx_query_is_absent_or_a_positive_whole_number() -> None:
    assert parse_num_ctx(None) is None
    assert parse_num_ctx("") is None
    assert parse_num_ctx("2048") == 2048


@pytest.mark.parametrize("text", ["0", "-5", "abc", "1.5", "4k", " 12"])
def test_bad_num_ctx_query_names_the_value(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_num_ctx(text)
    assert repr(text) in str(caught.value)

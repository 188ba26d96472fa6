"""One GPU of the system panel: name, VRAM, utilisation, temperature and their sparklines."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from corral.tui.format import human_size

__all__ = ["HISTORY", "GpuCard"]

HISTORY = 60
"""Samples kept for a sparkline."""


class GpuCard(Vertical):
    """Updated with each `/api/system` GPU entry; keeps the last `HISTORY` samples."""

    DEFAULT_CSS = """
    GpuCard { height: auto; margin-bottom: 1; }
    GpuCard Sparkline { height: 1; }
    GpuCard .caption { color: $text-muted; }
    """

    def __init__(self, index: int) -> None:
        super().__init__(id=f"gpu-{index}")
        self.utilization: deque[float] = deque(maxlen=HISTORY)
        self.vram: deque[float] = deque(maxlen=HISTORY)

    def compose(self) -> ComposeResult:
        yield Label("", classes="title")
        yield Label("utilisation", classes="caption")
        yield Sparkline([], classes="util")
        yield Label("VRAM", classes="caption")
        yield Sparkline([], classes="vram")

    def update_gpu(self, gpu: Mapping[str, Any]) -> None:
        used, total = int(gpu.get("vram_used") or 0), int(gpu.get("vram_total") or 0)
        util, temp = gpu.get("utilization"), gpu.get("temperature")
        self.utilization.append(float(util or 0))
        self.vram.append(100.0 * used / total if total else 0.0)
        parts = [
            f"GPU {gpu.get('index')}: {gpu.get('name')}",
            f"VRAM {human_size(used)} / {human_size(total)}",
            f"util {util}%" if util is not None else "util n/a",
            f"{temp}°C" if temp is not None else "temp n/a",
        ]
        self.query_one(".title", Label).update(" · ".join(parts))
        self.query_one(".util", Sparkline).data = list(self.utilization)
        self.query_one(".vram", Sparkline).data = list(self.vram)

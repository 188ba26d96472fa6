"""Where a model's memory goes: how many layers fit on the GPUs, and whether it fits at all.

Pure arithmetic over a `MemoryEstimate` and free-memory figures, so the scheduler's
decisions can be tested with injected numbers. The rules follow llama.cpp's layer
offload, as Ollama's layer fitting models it:

- With no GPU everything is in RAM (`num_gpu` 0).
- When the whole estimate fits in the free VRAM (less `GPU_RESERVE` per GPU, for the
  runner's CUDA context and fragmentation), every layer goes (`num_gpu` -1).
- Otherwise llama.cpp offloads the last `n` repeating blocks: the GPU then holds the
  compute buffer plus those blocks (weights and KV cache); `n` is the most that fit.
  The non-repeating tensors (embeddings, output head) stay in RAM.
- An explicit `num_gpu` from the request is taken as is.

Several GPUs are treated as one pool (llama.cpp splits layers across them).
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.gguf import MemoryEstimate

__all__ = ["GPU_RESERVE", "Placement", "place"]

GPU_RESERVE = 512 * 1024 * 1024
"""VRAM left free on each GPU: the runner's CUDA context and allocator slack."""


@dataclass(frozen=True, slots=True)
class Placement:
    """One way to load a model: layers offloaded and the bytes on each side."""

    num_gpu: int
    """Layers offloaded: -1 all (output head included), 0 none, else that many blocks."""
    size: int
    size_vram: int
    vram_budget: int
    """Free VRAM the placement was computed against (after the reserve)."""

    @property
    def size_ram(self) -> int:
        return self.size - self.size_vram

    @property
    def all_on_gpu(self) -> bool:
        return self.size_vram >= self.size > 0

    def fits(self, free_ram: int) -> bool:
        return self.size_vram <= max(0, self.vram_budget) and self.size_ram <= free_ram


def _offloaded(estimate: MemoryEstimate, layers: int) -> int:
    """VRAM used when the last `layers` blocks are offloaded."""
    blocks = len(estimate.layers)
    if layers <= 0:
        return 0
    if layers > blocks:
        return estimate.total
    return estimate.compute + sum(estimate.layers[blocks - layers :])


def place(
    estimate: MemoryEstimate,
    *,
    free_vram: int,
    gpu_count: int,
    num_gpu: int | None = None,
    reserve: int = GPU_RESERVE,
) -> Placement:
    """Place `estimate` against `free_vram` bytes free on `gpu_count` GPUs.

    Args:
        estimate: the model's footprint at the settings it would load with.
        free_vram: free VRAM over all GPUs (before the reserve is taken off).
        gpu_count: GPUs usable; 0 is the CPU path.
        num_gpu: the request's layer count, or `None` to compute it from the fit.
        reserve: VRAM kept free per GPU.
    """
    total = estimate.total
    if gpu_count <= 0:
        return Placement(
            num_gpu=0 if num_gpu is None else num_gpu, size=total, size_vram=0, vram_budget=0
        )
    budget = free_vram - reserve * gpu_count
    if num_gpu is not None:
        layers = num_gpu if num_gpu >= 0 else len(estimate.layers) + 1
        vram = _offloaded(estimate, layers)
        return Placement(num_gpu=num_gpu, size=total, size_vram=vram, vram_budget=budget)
    if total <= budget:
        return Placement(num_gpu=-1, size=total, size_vram=total, vram_budget=budget)
    layers = 0
    for count in range(len(estimate.layers), 0, -1):
        if _offloaded(estimate, count) <= budget:
            layers = count
            break
    return Placement(
        num_gpu=layers, size=total, size_vram=_offloaded(estimate, layers), vram_budget=budget
    )

"""Layer offload and fit decisions, from injected estimates and free VRAM."""

from __future__ import annotations

import pytest

from corral.daemon.placement import GPU_RESERVE, place
from corral.gguf import MemoryEstimate

# 10 blocks of 100 bytes, 200 bytes outside them (embeddings, head), compute 50: total 1250.
MODEL = MemoryEstimate(weights=1000, kv_cache=200, compute=50, layers=(100,) * 10)


def test_model_splits_into_blocks_and_the_rest() -> None:
    assert MODEL.total == 1250
    assert MODEL.non_repeating == 200


def test_cpu_holds_everything() -> None:
    placed = place(MODEL, free_vram=0, gpu_count=0)
    assert (placed.num_gpu, placed.size, placed.size_vram) == (0, 1250, 0)
    assert placed.fits(1250) and not placed.fits(1249)


def test_whole_model_on_the_gpu_when_it_fits() -> None:
    placed = place(MODEL, free_vram=1250, gpu_count=1, reserve=0)
    assert (placed.num_gpu, placed.size_vram) == (-1, 1250)
    assert placed.all_on_gpu and placed.fits(0)


@pytest.mark.parametrize(
    ("free", "layers"),
    [
        (1249, 10),  # all blocks but the head: 50 + 1000
        (1050, 10),
        (1049, 9),
        (450, 4),
        (149, 0),  # compute plus one block does not fit: nothing goes
        (0, 0),
    ],
)
def test_partial_offload_takes_as_many_blocks_as_fit(free: int, layers: int) -> None:
    placed = place(MODEL, free_vram=free, gpu_count=1, reserve=0)
    assert placed.num_gpu == layers
    assert placed.size_vram == (50 + 100 * layers if layers else 0)
    assert placed.size_ram == 1250 - placed.size_vram
    assert placed.size_vram <= free


def test_reserve_is_taken_from_every_gpu() -> None:
    placed = place(MODEL, free_vram=2 * GPU_RESERVE + 450, gpu_count=2)
    assert placed.num_gpu == 4 and placed.vram_budget == 450


def test_request_num_gpu_is_kept_and_its_vram_counted() -> None:
    placed = place(MODEL, free_vram=10_000, gpu_count=1, num_gpu=3, reserve=0)
    assert (placed.num_gpu, placed.size_vram) == (3, 350)
    too_many = place(MODEL, free_vram=300, gpu_count=1, num_gpu=3, reserve=0)
    assert not too_many.fits(10_000)
    everything = place(MODEL, free_vram=10_000, gpu_count=1, num_gpu=99, reserve=0)
    assert everything.size_vram == 1250
    on_cpu = place(MODEL, free_vram=0, gpu_count=0, num_gpu=3)
    assert (on_cpu.num_gpu, on_cpu.size_vram) == (3, 0)


def test_split_model_must_fit_the_rest_in_ram() -> None:
    placed = place(MODEL, free_vram=450, gpu_count=1, reserve=0)
    assert placed.fits(800) and not placed.fits(799)


def test_estimate_without_block_breakdown_cannot_split() -> None:
    flat = MemoryEstimate(weights=1000, kv_cache=0, compute=0)
    placed = place(flat, free_vram=999, gpu_count=1, reserve=0)
    assert (placed.num_gpu, placed.size_vram) == (0, 0)

"""Test support: write small, valid LoRA adapter GGUFs for a llama-architecture base model.

llama.cpp (`llama_adapter_lora_init`) accepts an adapter when `general.type` is
`adapter`, `adapter.type` is `lora`, `general.architecture` matches the base model,
and every `<tensor>.lora_a` / `<tensor>.lora_b` pair names a base tensor with, in
GGUF dimension order (innermost first), `lora_a` = (n_in, rank) and `lora_b` =
(rank, n_out) where the base weight is (n_in, n_out). In numpy order, which gguf-py
writes reversed, that is `lora_a` (rank, n_in) and `lora_b` (n_out, rank). The
adapter adds `alpha / rank · B·A·x` to each targeted matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gguf
import numpy as np

from corral.gguf import read_gguf

__all__ = ["DEFAULT_LAYERS", "DEFAULT_TARGETS", "write_lora_adapter"]

DEFAULT_TARGETS: tuple[str, ...] = ("attn_q", "attn_v", "ffn_up", "ffn_down")
"""Weight names (without `blk.N.` and `.weight`) the adapter changes."""

DEFAULT_LAYERS: tuple[int, ...] = (0, 1, 2, 3)


def write_lora_adapter(
    base: Path,
    out: Path,
    *,
    rank: int = 8,
    alpha: float = 8.0,
    std: float = 0.12,
    layers: Sequence[int] = DEFAULT_LAYERS,
    targets: Sequence[str] = DEFAULT_TARGETS,
    seed: int = 0,
    architecture: str | None = None,
) -> Path:
    """Write a LoRA adapter GGUF for the model at `base` to `out` and return `out`.

    The F32 weights are seeded Gaussian noise with standard deviation `std`: the same
    arguments always give byte-identical files. The defaults change SmolLM2-135M's
    greedy answer yet leave it fluent, so the new answer is stable across thread counts,
    batch sizes and prompt-cache reuse (at `std=0.2` the model babbles, and greedy output
    then flips with such numeric noise). `std=0` gives an adapter that changes nothing.
    `architecture` overrides the `general.architecture` written (to build a mismatch).

    Raises:
        ValueError: `base` is not a llama model or lacks one of the targeted tensors.
    """
    if rank < 1:
        raise ValueError(f"rank must be 1 or more, not {rank}")
    info = read_gguf(base)
    if info.architecture != "llama":
        raise ValueError(f"{base} is a {info.architecture!r} model, not a llama model")
    shapes = {t.name: t.shape for t in info.tensors}
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(out), architecture or info.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_name("corral test LoRA")
    for layer in layers:
        for target in targets:
            name = f"blk.{layer}.{target}.weight"
            if name not in shapes:
                raise ValueError(f"{base} has no tensor {name!r} to adapt")
            n_in, n_out = shapes[name]  # GGUF order: innermost (input) dimension first
            lora_a = rng.normal(0.0, std, size=(rank, n_in)).astype(np.float32)
            lora_b = rng.normal(0.0, std, size=(n_out, rank)).astype(np.float32)
            writer.add_tensor(f"{name}.lora_a", lora_a)
            writer.add_tensor(f"{name}.lora_b", lora_b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out

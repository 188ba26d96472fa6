"""How much memory a llama.cpp runner needs for a model: weights, KV cache and compute buffers.

The estimate follows what llama.cpp (as built into llama-cpp-python 0.3.x) allocates,
checked against its own log lines (`model buffer size`, `KV buffer size`, `compute
buffer size`) for SmolLM2-135M and Gemma 3 270M at contexts of 512 to 32768:

- **weights**: the bytes of tensor data (the `model buffer`), exact.
- **kv_cache**: `ctx × bytes × Σ_layers kv_heads × (key_length + value_length)`, where
  `ctx = min(num_ctx, context_length) × num_parallel`. With `key_length = value_length =
  head_dim` this is Ollama's `2 × layers × kv_heads × head_dim × ctx × bytes`
  (`ollama-reference.md` §4); using the GGUF's own key/value lengths keeps it exact for
  models whose head width is not `embedding_length / head_count` (Gemma 3: 256, not 160).
  Sliding-window layers are counted at full context, as llama.cpp allocates them by
  default. Encoder-only (embedding) models keep no KV cache.
- **compute**: the graph's scratch buffer for one micro-batch of `ubatch = min(512, ctx)`
  tokens. Its peak is whichever is larger of
  - the logits, `vocab × ubatch × 4` bytes (embedding models: `embedding_length × ubatch × 4`),
  - without flash attention, the f32 attention scores plus mask,
    `(head_count + 1) × ubatch × ctx × 4` bytes,

  plus two f32 activations of `embedding_length × ubatch` and the output buffer
  (`vocab × 4 × num_parallel`). Measured compute + output buffers against predictions:
  Gemma 3 270M 515.5 MiB / 515.5 at every context; SmolLM2 98.4 / 98.4 at ctx 512 and,
  without flash attention, 166.6 / 162.4 at ctx 8192 and 646.6 / 642.4 at ctx 32768.

For offloading part of a model to a GPU, `layers` breaks weights and KV cache down by
repeating block (`blk.N.*` tensors plus that layer's KV cache); llama.cpp offloads
whole blocks, the last ones first. What is not in a block (token embeddings, output
head) is `weights - Σ block weights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corral.gguf.info import GGUFInfo

__all__ = ["DEFAULT_UBATCH", "MemoryEstimate", "estimate_memory"]

DEFAULT_UBATCH = 512
"""llama.cpp's default micro-batch (`n_ubatch`)."""
_F32 = 4


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Bytes a runner needs; `context` is the KV context it was computed for."""

    weights: int
    kv_cache: int
    compute: int
    context: int = 0
    layers: tuple[int, ...] = ()
    """Bytes of each repeating block: its weights plus its share of the KV cache."""

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute

    @property
    def non_repeating(self) -> int:
        """Bytes outside the blocks: weights not in `blk.N.*` (embeddings, output head)."""
        return max(0, self.total - self.compute - sum(self.layers))


def estimate_memory(
    info: GGUFInfo,
    *,
    num_ctx: int,
    num_parallel: int = 1,
    kv_bytes_per_element: float = 2,
    flash_attention: bool = False,
    ubatch: int = DEFAULT_UBATCH,
) -> MemoryEstimate:
    """Estimate the memory to load `info` with `num_ctx` tokens of context per sequence.

    `kv_bytes_per_element` is 2 for an f16 cache (1.0625 for q8_0, 0.5625 for q4_0).
    Leaving `flash_attention` off gives the larger, safe figure.

    Raises:
        ValueError: `num_ctx`, `num_parallel`, `ubatch` or `kv_bytes_per_element` is not positive.
    """
    if num_ctx < 1 or num_parallel < 1 or ubatch < 1 or kv_bytes_per_element <= 0:
        raise ValueError(
            f"num_ctx ({num_ctx}), num_parallel ({num_parallel}), ubatch ({ubatch}) and"
            f" kv_bytes_per_element ({kv_bytes_per_element}) must be positive"
        )
    per_seq = min(num_ctx, info.context_length) if info.context_length else num_ctx
    ctx = per_seq * num_parallel
    widths = [] if info.is_embedding else _kv_widths(info)
    kv_layers = [round(ctx * kv_bytes_per_element * width) for width in widths]
    block_weights = _block_weights(info)
    layers = tuple(
        block_weights[i] + (kv_layers[i] if i < len(kv_layers) else 0)
        for i in range(len(block_weights))
    )
    return MemoryEstimate(
        weights=info.tensor_data_size,
        kv_cache=sum(kv_layers),
        compute=_compute(info, ctx, num_parallel, flash_attention, min(ubatch, ctx)),
        context=ctx,
        layers=layers,
    )


def _block_weights(info: GGUFInfo) -> list[int]:
    """Tensor bytes of each `blk.N.` block, for N below the block count."""
    layers = info.block_count or 0
    sizes = [0] * layers
    for tensor in info.tensors:
        if not tensor.name.startswith("blk."):
            continue
        number = tensor.name.split(".", 2)[1]
        if number.isdigit() and int(number) < layers:
            sizes[int(number)] += tensor.size
    return sizes


def _per_layer(value: Any, layers: int) -> list[int]:
    """A per-layer count given either once for all layers or as a per-layer array."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)][:layers]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value] * layers
    return []


def _kv_widths(info: GGUFInfo) -> list[int]:
    """Per layer, kv_heads × (key_length + value_length): elements cached per token."""
    layers = info.block_count or 0
    kv_heads = info.arch_value("attention.head_count_kv")
    if kv_heads is None:
        kv_heads = info.arch_value("attention.head_count")
    head_dim = info.head_dim or 0
    width = (info.key_length or head_dim) + (info.value_length or head_dim)
    return [heads * width for heads in _per_layer(kv_heads, layers)]


def _compute(info: GGUFInfo, ctx: int, num_parallel: int, flash: bool, ubatch: int) -> int:
    embd = info.embedding_length or 0
    vocab = info.vocab_size or 0
    if info.is_embedding:
        output = embd * ubatch * _F32
        output_buffer = embd * _F32 * num_parallel
    else:
        output = vocab * ubatch * _F32
        output_buffer = vocab * _F32 * num_parallel
    attention = 0 if flash else ((info.head_count or 0) + 1) * ubatch * ctx * _F32
    activations = 2 * embd * ubatch * _F32
    return max(output, attention) + activations + output_buffer

"""parameter_size formatting, Ollama's model_info map and the memory estimate formula."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.gguf import GGUFInfo, estimate_memory, human_number, model_info, read_gguf
from corral.gguf._format import ValueType
from corral.gguf.writer import TensorSpec, Typed, build_gguf

F32 = 0


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1K"),
        (1_499, "1K"),
        (4_416, "4K"),
        (999_999, "1000K"),
        (1_000_000, "1M"),
        (22_565_000, "22.57M"),
        (134_515_008, "134.52M"),
        (268_098_176, "268.10M"),
        (999_999_999, "1000.00M"),
        (1_000_000_000, "1B"),
        (3_212_749_824, "3.2B"),
        (7_241_732_096, "7.2B"),
        (8_000_000_000, "8B"),
        (8_030_261_248, "8.0B"),
        (70_553_706_496, "70.6B"),
        (1_000_000_000_000, "1000B"),
    ],
)
def test_human_number_matches_ollama(count: int, shown: str) -> None:
    assert human_number(count) == shown


def tiny(tmp_path: Path, extra: dict[str, Any] | None = None, name: str = "m.gguf") -> GGUFInfo:
    md: dict[str, Any] = {
        "general.architecture": "llama",
        "general.name": "tiny",
        "llama.context_length": 1024,
        "llama.embedding_length": 256,
        "llama.block_count": 4,
        "llama.attention.head_count": 8,
        "llama.attention.head_count_kv": 2,
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(100)],
        "tokenizer.chat_template": "{{ x }}",
        "general.tags": ["a", "b", "c", "d", "e"],
        "general.languages": ["a", "b", "c", "d", "e", "f"],
    }
    md.update(extra or {})
    path = tmp_path / name
    path.write_bytes(build_gguf(md, [TensorSpec("w", F32, (256, 4)), TensorSpec("n", F32, (8,))]))
    return read_gguf(path)


def test_weights_are_the_tensor_bytes(tmp_path: Path) -> None:
    info = tiny(tmp_path)
    assert estimate_memory(info, num_ctx=512).weights == 256 * 4 * 4 + 8 * 4


def test_kv_cache_formula(tmp_path: Path) -> None:
    info = tiny(tmp_path)
    # 2 x layers x kv_heads x head_dim x ctx x bytes, head_dim = 256 / 8
    assert estimate_memory(info, num_ctx=512).kv_cache == 2 * 4 * 2 * 32 * 512 * 2
    assert (
        estimate_memory(info, num_ctx=512, kv_bytes_per_element=1).kv_cache == 2 * 4 * 2 * 32 * 512
    )
    q8 = estimate_memory(info, num_ctx=512, kv_bytes_per_element=1.0625)
    assert q8.kv_cache == round(2 * 4 * 2 * 32 * 512 * 1.0625)


def test_context_is_clamped_to_training_context_then_multiplied(tmp_path: Path) -> None:
    info = tiny(tmp_path)
    one = estimate_memory(info, num_ctx=4096)
    two = estimate_memory(info, num_ctx=4096, num_parallel=2)
    assert (one.context, two.context) == (1024, 2048)
    assert two.kv_cache == 2 * one.kv_cache == 2 * 4 * 2 * 32 * 2048 * 2


def test_key_and_value_lengths_override_head_dim(tmp_path: Path) -> None:
    info = tiny(tmp_path, {"llama.attention.key_length": 64, "llama.attention.value_length": 48})
    assert estimate_memory(info, num_ctx=100).kv_cache == 4 * 2 * (64 + 48) * 100 * 2


def test_per_layer_kv_heads_are_summed(tmp_path: Path) -> None:
    info = tiny(tmp_path, {"llama.attention.head_count_kv": [1, 2, 0, 4]})
    assert estimate_memory(info, num_ctx=10).kv_cache == (1 + 2 + 0 + 4) * 64 * 10 * 2


def test_compute_formula(tmp_path: Path) -> None:
    info = tiny(tmp_path)
    activations = 2 * 256 * 512 * 4
    output_buffer = 100 * 4
    # without flash attention the f32 scores for 8 heads plus the mask dominate
    scores = (8 + 1) * 512 * 512 * 4
    assert estimate_memory(info, num_ctx=512).compute == scores + activations + output_buffer
    # with it, the logits for a 512-token micro-batch do
    logits = 100 * 512 * 4
    flash = estimate_memory(info, num_ctx=512, flash_attention=True)
    assert flash.compute == logits + activations + output_buffer
    # the micro-batch never exceeds the context
    small = estimate_memory(info, num_ctx=64, flash_attention=True)
    assert small.compute == 100 * 64 * 4 + 2 * 256 * 64 * 4 + output_buffer
    # compute grows with the context and with the vocabulary
    assert estimate_memory(info, num_ctx=1024).compute > estimate_memory(info, num_ctx=512).compute
    big_vocab = tiny(tmp_path, {"tokenizer.ggml.tokens": ["t"] * 5000}, "v.gguf")
    assert estimate_memory(big_vocab, num_ctx=512, flash_attention=True).compute > flash.compute


def test_total_is_the_sum(tmp_path: Path) -> None:
    estimate = estimate_memory(tiny(tmp_path), num_ctx=300)
    assert estimate.total == estimate.weights + estimate.kv_cache + estimate.compute


def test_embedding_models_have_no_kv_cache(tmp_path: Path) -> None:
    path = tmp_path / "bert.gguf"
    path.write_bytes(
        build_gguf(
            {
                "general.architecture": "bert",
                "bert.context_length": 512,
                "bert.embedding_length": 384,
                "bert.block_count": 6,
                "bert.attention.head_count": 12,
                "bert.pooling_type": 1,
                "tokenizer.ggml.tokens": [f"t{i}" for i in range(30)],
            }
        )
    )
    info = read_gguf(path)
    estimate = estimate_memory(info, num_ctx=512, flash_attention=True)
    assert estimate.kv_cache == 0
    assert estimate.compute == 384 * 512 * 4 + 2 * 384 * 512 * 4 + 384 * 4


@pytest.mark.parametrize(
    "bad",
    [{"num_ctx": 0}, {"num_ctx": 8, "num_parallel": 0}, {"num_ctx": 8, "kv_bytes_per_element": 0}],
)
def test_estimate_rejects_non_positive_arguments(tmp_path: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        estimate_memory(tiny(tmp_path), **bad)


def test_model_info_hides_name_and_template_and_empties_long_arrays(tmp_path: Path) -> None:
    info = tiny(tmp_path, {"nested": Typed(ValueType.ARRAY, [[1, 2]], ValueType.ARRAY)})
    shown = model_info(info)
    assert "general.name" not in shown and "tokenizer.chat_template" not in shown
    assert shown["general.tags"] == ["a", "b", "c", "d", "e"]  # five is kept
    assert shown["general.languages"] == []  # six is not
    assert shown["tokenizer.ggml.tokens"] == []
    assert shown["nested"] == [[1, 2]]
    assert shown["general.parameter_count"] == info.parameter_count == 256 * 4 + 8
    assert shown["llama.block_count"] == 4
    assert list(shown) == sorted(shown)


def test_model_info_verbose_keeps_arrays(tmp_path: Path) -> None:
    tokens = [f"t{i}" for i in range(2000)]
    info = tiny(tmp_path, {"tokenizer.ggml.tokens": tokens})
    verbose = model_info(info, verbose=True)
    assert verbose["general.languages"] == ["a", "b", "c", "d", "e", "f"]
    assert verbose["tokenizer.ggml.tokens"] == tokens
    assert "general.name" not in verbose


def test_layers_hold_each_blocks_weights_and_kv(tmp_path: Path) -> None:
    path = tmp_path / "blocks.gguf"
    md: dict[str, Any] = {
        "general.architecture": "llama",
        "llama.context_length": 1024,
        "llama.embedding_length": 256,
        "llama.block_count": 2,
        "llama.attention.head_count": 8,
        "llama.attention.head_count_kv": [2, 1],
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(100)],
    }
    tensors = [
        TensorSpec("token_embd.weight", F32, (256, 100)),
        TensorSpec("blk.0.attn_q.weight", F32, (256, 16)),
        TensorSpec("blk.0.ffn_up.weight", F32, (256, 8)),
        TensorSpec("blk.1.attn_q.weight", F32, (256, 4)),
        TensorSpec("blk.9.stray.weight", F32, (4,)),  # beyond block_count: not a layer
    ]
    path.write_bytes(build_gguf(md, tensors))
    estimate = estimate_memory(read_gguf(path), num_ctx=100)
    kv0, kv1 = 2 * 64 * 100 * 2, 1 * 64 * 100 * 2
    assert estimate.layers == (256 * 24 * 4 + kv0, 256 * 4 * 4 + kv1)
    assert estimate.kv_cache == kv0 + kv1
    assert estimate.non_repeating == 256 * 100 * 4 + 4 * 4
    assert estimate.total == sum(estimate.layers) + estimate.non_repeating + estimate.compute

"""read_gguf on the real models: SmolLM2-135M-Instruct Q4_1 and Gemma 3 270M Q4_K_M."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.gguf import ArraySummary, estimate_memory, is_gguf, model_info, read_gguf

MiB = 1 << 20


def test_smollm2_facts(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    assert info.version == 3
    assert info.architecture == "llama"
    assert info.file_type == "Q4_1"
    assert info.parameter_count == 134_515_008
    assert info.parameter_size == "134.52M"
    assert info.context_length == 8192
    assert info.embedding_length == 576
    assert (info.block_count, info.head_count, info.head_count_kv) == (30, 9, 3)
    assert info.head_dim == 64
    assert info.tokenizer_model == "gpt2"
    assert info.vocab_size == 49152
    assert (info.bos_token_id, info.bos_token) == (1, "<|im_start|>")
    assert (info.eos_token_id, info.eos_token) == (2, "<|im_end|>")
    assert info.chat_template is not None
    assert "<|im_start|>" in info.chat_template and "<|im_end|>" in info.chat_template
    assert not info.is_embedding
    assert len(info.tensors) == 272
    assert info.tensor_data_size == 96_576_768  # llama.cpp: "model buffer size = 92.10 MiB"


def test_smollm2_long_arrays_are_summarised_and_readable(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    tokens = info.metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, ArraySummary)
    assert (tokens.type_name, tokens.length) == ("string", 49152)
    assert info.metadata["general.languages"] == ["en"]
    assert info.token(0) == "<|endoftext|>"
    assert info.token(49151) == info.read_array("tokenizer.ggml.tokens")[49151]
    with pytest.raises(IndexError):
        info.token(49152)
    merges = info.read_array("tokenizer.ggml.merges")
    assert len(merges) == 48900 and all(" " in m for m in merges[:100])


def test_smollm2_tensor_table(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    embd = next(t for t in info.tensors if t.name == "token_embd.weight")
    assert (embd.type_name, embd.shape, embd.offset) == ("Q8_0", (576, 49152), 0)
    assert info.data_offset == 1_785_664
    types = {t.type_name for t in info.tensors}
    assert types == {"Q4_1", "F32", "Q8_0"}
    assert sum(t.size for t in info.tensors) == info.tensor_data_size
    assert info.data_offset + info.tensor_data_size <= info.file_size


def test_smollm2_model_info_is_ollamas_show_map(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    shown = model_info(info)
    assert "general.name" not in shown and "tokenizer.chat_template" not in shown
    assert shown["general.parameter_count"] == 134_515_008
    assert shown["general.architecture"] == "llama"
    assert shown["llama.context_length"] == 8192
    assert shown["tokenizer.ggml.tokens"] == []
    assert shown["general.languages"] == ["en"]
    assert list(shown) == sorted(shown)
    verbose = model_info(info, verbose=True)
    assert len(verbose["tokenizer.ggml.tokens"]) == 49152
    assert verbose["tokenizer.ggml.tokens"][2] == "<|im_end|>"


def test_smollm2_memory_matches_llama_cpp_buffers(smollm2_path: Path) -> None:
    # llama.cpp (llama-cpp-python 0.3.36, CPU) logs for n_ctx=512: KV buffer 11.25 MiB,
    # compute buffer 98.25 MiB + output buffer 0.19 MiB.
    estimate = estimate_memory(read_gguf(smollm2_path), num_ctx=512)
    assert estimate.kv_cache == 11.25 * MiB
    assert abs(estimate.compute - (98.25 + 0.1875) * MiB) < 0.01 * MiB
    # num_ctx beyond the training context is clamped to it (8192)
    clamped = estimate_memory(read_gguf(smollm2_path), num_ctx=100_000, num_parallel=2)
    assert clamped.context == 16384
    assert clamped.kv_cache == 360 * MiB


def test_smollm2_is_gguf(smollm2_path: Path) -> None:
    assert is_gguf(smollm2_path)


def test_gemma3_facts(gemma_path: Path) -> None:
    info = read_gguf(gemma_path)
    assert info.architecture == "gemma3"
    assert info.file_type == "Q4_K_M"
    assert info.parameter_count == 268_098_176
    assert info.parameter_size == "268.10M"
    assert info.context_length == 32768
    assert (info.key_length, info.value_length, info.head_count_kv) == (256, 256, 1)
    assert info.vocab_size == 262144
    assert (info.bos_token, info.eos_token) == ("<bos>", "<eos>")
    assert info.chat_template is None  # a base model
    assert info.tokenizer_model == "llama"
    assert len(info.tensors) == 236


def test_gemma3_kv_cache_uses_key_and_value_length(gemma_path: Path) -> None:
    # llama.cpp logs 96 + 480 MiB of KV buffers at n_ctx=32768: 18 layers x 1 kv head
    # x (256 + 256) x 32768 x 2 bytes. embedding/heads (160) would give 360 MiB.
    estimate = estimate_memory(read_gguf(gemma_path), num_ctx=32768)
    assert estimate.kv_cache == 576 * MiB
    assert abs(estimate.compute - (514.5 + 1.0) * MiB) < 0.01 * MiB

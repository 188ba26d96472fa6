"""PEFT LoRA adapters → GGUF LoRA, checked by logits against merged weights in numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from corral.convert import convert_checkpoint
from corral.convert.lora import convert_lora, is_lora_adapter
from corral.errors import ConversionError
from tests.convert.tiny import (
    LLAMA,
    QWEN2,
    TinySpec,
    build_checkpoint,
    reference_logits,
    write_safetensors,
)

llama_cpp = pytest.importorskip("llama_cpp")

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
RANK, ALPHA = 4, 16


def _module(name: str) -> str:
    return "self_attn" if name.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"


def build_adapter(
    directory: Path, weights: dict[str, np.ndarray], spec: TinySpec
) -> dict[str, np.ndarray]:
    """Write a PEFT adapter; returns the base weights with the adapter merged in."""
    rng = np.random.default_rng(42)
    tensors: dict[str, np.ndarray] = {}
    merged = dict(weights)
    for layer in range(spec.layers):
        for target in TARGETS:
            base = f"model.layers.{layer}.{_module(target)}.{target}.weight"
            n_out, n_in = weights[base].shape
            a = (rng.standard_normal((RANK, n_in)) * 0.1).astype(np.float32)
            b = (rng.standard_normal((n_out, RANK)) * 0.1).astype(np.float32)
            prefix = f"base_model.model.model.layers.{layer}.{_module(target)}.{target}"
            tensors[f"{prefix}.lora_A.weight"] = a
            tensors[f"{prefix}.lora_B.weight"] = b
            merged[base] = weights[base] + (ALPHA / RANK) * (b @ a)
    directory.mkdir()
    write_safetensors(directory / "adapter_model.safetensors", tensors)
    (directory / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "r": RANK,
                "lora_alpha": ALPHA,
                "target_modules": list(TARGETS),
                "base_model_name_or_path": "tiny",
            }
        )
    )
    return merged


@pytest.mark.parametrize("spec", [LLAMA, QWEN2], ids=["llama", "qwen2"])
def test_lora_logits_match_merged_weights(tmp_path: Path, spec: TinySpec) -> None:
    weights = build_checkpoint(tmp_path / "base", spec)
    merged = build_adapter(tmp_path / "lora", weights, spec)
    assert is_lora_adapter(tmp_path / "lora")
    convert_checkpoint(tmp_path / "base", tmp_path / "base.gguf", out_type="F32")
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    pairs = convert_lora(tmp_path / "lora", config, tmp_path / "lora.gguf")
    assert pairs == spec.layers * len(TARGETS)
    from tokenizers import Tokenizer

    tokens = (
        Tokenizer.from_file(str(tmp_path / "base" / "tokenizer.json"))
        .encode("Why is the sky blue?")
        .ids
    )
    model = llama_cpp.Llama(
        str(tmp_path / "base.gguf"),
        lora_path=str(tmp_path / "lora.gguf"),
        n_ctx=64,
        logits_all=True,
        verbose=False,
        n_threads=2,
        n_gpu_layers=0,
    )
    try:
        model.eval(tokens)
        got = np.array(model.scores[: len(tokens)], dtype=np.float64)
    finally:
        model.close()
    expected = reference_logits(merged, spec, tokens)
    unadapted = reference_logits(weights, spec, tokens)
    scale = float(np.abs(expected).max())
    assert float(np.abs(expected - unadapted).max()) > 0.1 * scale  # the adapter matters
    # F32 throughout; the adapter (scale alpha/r = 4) moves logits by about 1.3 x scale, and
    # llama.cpp's result lands within a few thousandths of scale of the merged reference.
    assert float(np.abs(got - unadapted).max()) > 0.5 * scale
    assert float(np.abs(got - expected).max()) < 1e-2 * scale


def test_lora_bad_inputs(tmp_path: Path) -> None:
    weights = build_checkpoint(tmp_path / "base", LLAMA)
    build_adapter(tmp_path / "lora", weights, LLAMA)
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    out = tmp_path / "lora.gguf"
    bert = {**config, "architectures": ["BertModel"]}
    with pytest.raises(ConversionError, match="supports the Llama family"):
        convert_lora(tmp_path / "lora", bert, out)
    (tmp_path / "lora" / "adapter_config.json").write_text(json.dumps({"r": 0}))
    with pytest.raises(ConversionError, match="no valid r/lora_alpha"):
        convert_lora(tmp_path / "lora", config, out)
    (tmp_path / "lora" / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8}))
    write_safetensors(
        tmp_path / "lora" / "adapter_model.safetensors",
        {
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros(
                (4, 256), np.float32
            )
        },
    )
    with pytest.raises(ConversionError, match="no lora_B partner"):
        convert_lora(tmp_path / "lora", config, out)
    assert not out.exists()

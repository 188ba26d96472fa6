"""Convert a PEFT LoRA adapter (safetensors) for a Llama-family model to a GGUF LoRA.

The adapter directory holds `adapter_config.json` (`r`, `lora_alpha`,
`base_model_name_or_path`) and `adapter_model.safetensors` with
`base_model.model.<base tensor>.lora_A.weight` (rank × n_in) and `lora_B`
(n_out × rank) pairs. Each pair is written as `<gguf tensor>.lora_a` / `.lora_b`,
with the same Q/K row permutation the base weights get (it acts on `lora_B`'s
rows), under `general.type = adapter` as llama.cpp's `llama_adapter_lora_init` expects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from corral.convert.models import Llama, find_architecture
from corral.convert.safetensors import Checkpoint
from corral.errors import ConversionError

__all__ = ["base_config_for", "convert_lora", "is_lora_adapter"]

_PREFIX = "base_model.model."


_HF_NAMES = {
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "gemma": "GemmaForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
    "gemma3": "Gemma3ForCausalLM",
    "phi3": "Phi3ForCausalLM",
}


def base_config_for(
    architecture: str,
    *,
    block_count: int | None,
    head_count: int | None,
    head_count_kv: int | None,
    embedding_length: int | None,
) -> dict[str, Any]:
    """The parts of a Hugging Face config.json that LoRA conversion needs, from GGUF facts.

    Raises:
        ConversionError: the base model's architecture has no LoRA conversion.
    """
    name = _HF_NAMES.get(architecture)
    if name is None or not (block_count and head_count and embedding_length):
        raise ConversionError(
            f"LoRA conversion supports the Llama family ({', '.join(sorted(_HF_NAMES))}); "
            f"the base model is {architecture}"
        )
    return {
        "architectures": [name],
        "num_hidden_layers": block_count,
        "num_attention_heads": head_count,
        "num_key_value_heads": head_count_kv or head_count,
        "hidden_size": embedding_length,
    }


def is_lora_adapter(directory: Path) -> bool:
    """Whether a directory looks like a PEFT LoRA adapter."""
    return (directory / "adapter_config.json").is_file() and any(
        directory.glob("adapter_model*.safetensors")
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversionError(f"the adapter has no {path.name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"cannot read {path.name}: {exc}") from None
    if not isinstance(data, dict):
        raise ConversionError(f"{path.name} is not a JSON object")
    return data


def convert_lora(adapter: Path, base_config: dict[str, Any], output: Path) -> int:
    """Write `adapter` as a GGUF LoRA at `output`; returns the number of tensor pairs.

    `base_config` is the base model's `config.json` (its architecture and head
    counts decide the names and the Q/K permutation).

    Raises:
        ConversionError: not a Llama-family base, or a malformed adapter.
    """
    arch = find_architecture(base_config)
    if not isinstance(arch, Llama):
        raise ConversionError(
            f"LoRA conversion supports the Llama family (Llama, Mistral, Qwen2, Gemma, Phi-3); "
            f"the base is {arch.arch_name}"
        )
    settings = _read_json(adapter / "adapter_config.json")
    rank, alpha = settings.get("r"), settings.get("lora_alpha", settings.get("r"))
    if not isinstance(rank, int) or rank <= 0 or not isinstance(alpha, int | float):
        raise ConversionError(f"adapter_config.json has no valid r/lora_alpha (r={rank!r})")
    files = sorted(adapter.glob("adapter_model*.safetensors"))
    if not files:
        raise ConversionError(f"{str(adapter)!r} holds no adapter_model.safetensors")
    checkpoint = Checkpoint(files)
    try:
        pairs: list[tuple[str, str, str]] = []
        for name in sorted(checkpoint.tensors):
            if not name.endswith(".lora_A.weight"):
                if not name.endswith(".lora_B.weight"):
                    raise ConversionError(f"adapter tensor {name!r} is not a LoRA A/B weight")
                continue
            base = name.removeprefix(_PREFIX).removesuffix(".lora_A.weight") + ".weight"
            partner = name.replace(".lora_A.", ".lora_B.")
            if partner not in checkpoint:
                raise ConversionError(f"adapter tensor {name!r} has no lora_B partner")
            pairs.append((base, name, partner))
        if not pairs:
            raise ConversionError("the adapter holds no LoRA tensors")
        writer = gguf.GGUFWriter(output, arch.arch_name)
        try:
            writer.add_type(gguf.GGUFType.ADAPTER)
            writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
            writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
            for base, a_name, b_name in pairs:
                target = arch.gguf_name(base)
                lora_a = np.ascontiguousarray(checkpoint.read_float(a_name), dtype=np.float32)
                lora_b = checkpoint.read_float(b_name).astype(np.float32)
                if lora_a.shape[0] != lora_b.shape[1]:
                    raise ConversionError(f"LoRA ranks of {a_name!r} and {b_name!r} differ")
                lora_b = np.ascontiguousarray(arch.transform(base, lora_b), dtype=np.float32)
                writer.add_tensor(f"{target}.lora_a", lora_a)
                writer.add_tensor(f"{target}.lora_b", lora_b)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        checkpoint.close()
    return len(pairs)

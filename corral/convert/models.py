"""Per-architecture conversion rules: hyperparameters, tensor names, tensor fix-ups.

Each `Architecture` knows which Hugging Face `architectures` names it takes, the
GGUF architecture it writes, how to write its hyperparameters, and how to turn
one checkpoint tensor into zero or more GGUF tensors. Tensor names are mapped with
gguf-py's own table (the one llama.cpp's converter uses).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np

from corral.errors import ConversionError

__all__ = ["ARCHITECTURES", "Architecture", "PlannedTensor", "find_architecture", "supported"]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class PlannedTensor:
    """One GGUF tensor: its name, shape, and its float data as row blocks, in order."""

    name: str
    shape: tuple[int, ...]
    chunks: Callable[[], Iterator[Array]]
    keep_f32: bool = False


def _int(config: dict[str, Any], key: str, default: int | None = None) -> int:
    value = config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConversionError(f"config.json has no valid {key!r} (got {value!r})")
    return value


def _float(config: dict[str, Any], key: str, default: float | None = None) -> float:
    value = config.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConversionError(f"config.json has no valid {key!r} (got {value!r})")
    return float(value)


def _permute(weights: Array, n_head: int) -> Array:
    """HF's rotate-half Q/K layout → llama.cpp's interleaved RoPE layout."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


class Architecture:
    """The rules for one family of checkpoints."""

    hf_names: tuple[str, ...] = ()
    arch: gguf.MODEL_ARCH = gguf.MODEL_ARCH.LLAMA
    skip_suffixes: tuple[str, ...] = ("rotary_emb.inv_freq",)

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.n_layer = _int(config, "num_hidden_layers")
        self.names = gguf.get_tensor_name_map(self.arch, self.n_layer)

    @property
    def arch_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.arch]

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        raise NotImplementedError

    def gguf_name(self, name: str) -> str:
        mapped = self.names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise ConversionError(
                f"tensor {name!r} has no GGUF name for architecture {self.arch_name}"
            )
        return str(mapped)

    def skip(self, name: str) -> bool:
        return name.endswith(self.skip_suffixes)

    def transforms(self, name: str) -> bool:
        """Whether `transform` changes this tensor (then it is read whole, not in blocks)."""
        return False

    def transform(self, name: str, array: Array) -> Array:
        return array

    def extra_tensors(self) -> Iterator[PlannedTensor]:
        return iter(())


class Llama(Architecture):
    """Llama 2/3, Mistral, SmolLM: RMSNorm, RoPE (interleaved), GQA, SwiGLU."""

    hf_names: tuple[str, ...] = ("LlamaForCausalLM", "MistralForCausalLM")
    arch = gguf.MODEL_ARCH.LLAMA
    permute_qk = True

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.n_embd = _int(config, "hidden_size")
        self.n_head = _int(config, "num_attention_heads")
        self.n_head_kv = _int(config, "num_key_value_heads", self.n_head)
        self.head_dim = _int(config, "head_dim", self.n_embd // self.n_head)

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        c = self.config
        writer.add_context_length(_int(c, "max_position_embeddings", 4096))
        writer.add_embedding_length(self.n_embd)
        writer.add_block_count(self.n_layer)
        writer.add_feed_forward_length(_int(c, "intermediate_size"))
        writer.add_head_count(self.n_head)
        writer.add_head_count_kv(self.n_head_kv)
        writer.add_layer_norm_rms_eps(_float(c, "rms_norm_eps", 1e-5))
        writer.add_rope_freq_base(_float(c, "rope_theta", 10000.0))
        writer.add_rope_dimension_count(self.head_dim)
        if self.head_dim != self.n_embd // self.n_head:
            writer.add_key_length(self.head_dim)
            writer.add_value_length(self.head_dim)
        if "vocab_size" in c:
            writer.add_vocab_size(_int(c, "vocab_size"))
        self._write_rope_scaling(writer)

    def _rope_scaling(self) -> dict[str, Any] | None:
        scaling = self.config.get("rope_scaling")
        return scaling if isinstance(scaling, dict) else None

    def _write_rope_scaling(self, writer: gguf.GGUFWriter) -> None:
        scaling = self._rope_scaling()
        if scaling is None:
            return
        kind = scaling.get("rope_type", scaling.get("type"))
        factor = _float(scaling, "factor", 1.0)
        if kind == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(factor)
        elif kind == "yarn":
            writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            writer.add_rope_scaling_factor(factor)
            original = scaling.get("original_max_position_embeddings")
            if isinstance(original, int):
                writer.add_rope_scaling_orig_ctx_len(original)
        elif kind not in {"llama3", "default", None}:
            raise ConversionError(f"rope_scaling type {kind!r} is not supported")

    def extra_tensors(self) -> Iterator[PlannedTensor]:
        scaling = self._rope_scaling()
        if scaling is None or scaling.get("rope_type") != "llama3":
            return
        base = _float(self.config, "rope_theta", 10000.0)
        dim = self.head_dim
        factor = _float(scaling, "factor", 8.0)
        low = _float(scaling, "low_freq_factor", 1.0)
        high = _float(scaling, "high_freq_factor", 4.0)
        original = _float(scaling, "original_max_position_embeddings", 8192)

        def load() -> Array:
            freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
            low_wavelen, high_wavelen = original / low, original / high
            factors = []
            for freq in freqs:
                wavelen = 2 * math.pi / float(freq)
                if wavelen < high_wavelen:
                    factors.append(1.0)
                elif wavelen > low_wavelen:
                    factors.append(factor)
                else:
                    smooth = (original / wavelen - low) / (high - low)
                    factors.append(1.0 / ((1 - smooth) / factor + smooth))
            return np.array(factors, dtype=np.float32)

        name = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight"
        yield PlannedTensor(name, (dim // 2,), lambda: iter([load()]), keep_f32=True)

    def transforms(self, name: str) -> bool:
        return self.permute_qk and name.endswith(
            ("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias")
        )

    def transform(self, name: str, array: Array) -> Array:
        if self.permute_qk:
            if name.endswith(("q_proj.weight", "q_proj.bias")):
                return _permute(array, self.n_head)
            if name.endswith(("k_proj.weight", "k_proj.bias")):
                return _permute(array, self.n_head_kv)
        return array


class Qwen2(Llama):
    """Qwen2 / Qwen2.5: Llama's layout with Q/K/V biases and NeoX RoPE (no permutation)."""

    hf_names = ("Qwen2ForCausalLM",)
    arch = gguf.MODEL_ARCH.QWEN2
    permute_qk = False


class Gemma(Llama):
    """Gemma (1): NeoX RoPE, GeGLU, embeddings scaled by sqrt(hidden), RMSNorm weights as 1 + w.

    llama.cpp multiplies by the stored norm weight, so the +1 that Hugging Face's
    GemmaRMSNorm applies at run time is folded in here, as llama.cpp's converter does.
    The output head is always tied to the embeddings.
    """

    hf_names = ("GemmaForCausalLM",)
    arch = gguf.MODEL_ARCH.GEMMA
    permute_qk = False

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        super().write_hparams(writer)
        if self.head_dim == self.n_embd // self.n_head:  # Llama writes these only when they differ
            writer.add_key_length(self.head_dim)
            writer.add_value_length(self.head_dim)

    def skip(self, name: str) -> bool:
        return super().skip(name) or name == "lm_head.weight"

    def transforms(self, name: str) -> bool:
        return name.endswith("norm.weight")

    def transform(self, name: str, array: Array) -> Array:
        if name.endswith("norm.weight"):
            return array.astype(np.float32) + 1
        return array


class Gemma2(Gemma):
    """Gemma 2: Gemma's rules plus sandwich norms, logit soft-capping, sliding windows."""

    hf_names = ("Gemma2ForCausalLM",)
    arch = gguf.MODEL_ARCH.GEMMA2

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        super().write_hparams(writer)
        writer.add_attn_logit_softcapping(_float(self.config, "attn_logit_softcapping", 50.0))
        writer.add_final_logit_softcapping(_float(self.config, "final_logit_softcapping", 30.0))
        window = self.config.get("sliding_window")
        if isinstance(window, int) and window > 0:
            writer.add_sliding_window(window)


class Gemma3(Gemma):
    """Gemma 3 text models: Gemma's rules plus Q/K norms, sandwich norms, sliding windows."""

    hf_names = ("Gemma3ForCausalLM",)
    arch = gguf.MODEL_ARCH.GEMMA3

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        if self.config.get("attn_logit_softcapping") is not None:
            raise ConversionError("Gemma 3 checkpoints must not set attn_logit_softcapping")
        self.config.setdefault("rope_theta", 1_000_000.0)
        super().write_hparams(writer)
        window = self.config.get("sliding_window")
        if isinstance(window, int) and window > 0:
            writer.add_sliding_window(window)
        local = self.config.get("rope_local_base_freq")
        if isinstance(local, int | float):
            writer.add_float32(f"{self.arch_name}.rope.freq_base_swa", float(local))


class Phi3(Llama):
    """Phi-3: Llama's blocks with fused QKV and gate/up projections, NeoX RoPE."""

    hf_names = ("Phi3ForCausalLM",)
    arch = gguf.MODEL_ARCH.PHI3
    permute_qk = False

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        super().write_hparams(writer)
        rotary = self.config.get("partial_rotary_factor", 1.0)
        if isinstance(rotary, int | float) and rotary != 1.0:
            writer.add_rope_dimension_count(int(rotary * self.n_embd) // self.n_head)
        window = self.config.get("sliding_window")
        if isinstance(window, int) and window > 0:
            writer.add_sliding_window(window)

    def _write_rope_scaling(self, writer: gguf.GGUFWriter) -> None:
        scaling = self._rope_scaling()
        kind = scaling.get("rope_type", scaling.get("type")) if scaling else None
        if kind in {"su", "longrope"}:
            raise ConversionError(
                f"Phi-3 with rope_scaling {kind!r} (the 128k models) is not supported yet"
            )
        super()._write_rope_scaling(writer)


class Bert(Architecture):
    """BERT encoders (sentence-transformers): mean pooling, no causal mask."""

    hf_names = ("BertModel", "BertForMaskedLM", "BertForSequenceClassification")
    arch = gguf.MODEL_ARCH.BERT
    skip_suffixes = ("position_ids",)

    def skip(self, name: str) -> bool:
        return (
            super().skip(name)
            or name.startswith(("pooler.", "cls.", "classifier."))
            or ".pooler." in name
        )

    def gguf_name(self, name: str) -> str:
        return super().gguf_name(name.removeprefix("bert."))

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        c = self.config
        writer.add_context_length(_int(c, "max_position_embeddings", 512))
        writer.add_embedding_length(_int(c, "hidden_size"))
        writer.add_block_count(self.n_layer)
        writer.add_feed_forward_length(_int(c, "intermediate_size"))
        writer.add_head_count(_int(c, "num_attention_heads"))
        writer.add_layer_norm_eps(_float(c, "layer_norm_eps", 1e-12))
        writer.add_causal_attention(False)
        writer.add_pooling_type(self.pooling())

    def pooling(self) -> gguf.PoolingType:
        """sentence-transformers' pooling (`1_Pooling/config.json`); mean when it says none."""
        settings = self.config.get("_pooling")
        if isinstance(settings, dict):
            if settings.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
            if settings.get("pooling_mode_lasttoken"):
                return gguf.PoolingType.LAST
        return gguf.PoolingType.MEAN


ARCHITECTURES: tuple[type[Architecture], ...] = (Llama, Qwen2, Gemma, Gemma2, Gemma3, Phi3, Bert)


def supported() -> list[str]:
    return sorted(name for cls in ARCHITECTURES for name in cls.hf_names)


def find_architecture(config: dict[str, Any]) -> Architecture:
    """The rules for the checkpoint's `architectures[0]`, or a ConversionError listing ours."""
    names = config.get("architectures")
    name = names[0] if isinstance(names, list) and names else None
    for cls in ARCHITECTURES:
        if name in cls.hf_names:
            return cls(config)
    raise ConversionError(
        f"architecture {name!r} is not supported for conversion; supported: "
        + ", ".join(supported())
    )

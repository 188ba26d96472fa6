"""Tiny random-weight Hugging Face checkpoints, and a numpy reference forward pass.

The checkpoints are real in every part a converter reads: `config.json`,
safetensors weights, a byte-level BPE `tokenizer.json` trained with the
`tokenizers` package, and a `tokenizer_config.json` with a chat template. Their
dimensions (hidden 256, FFN 512) are multiples of 256, so K-quants accept them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Why is the sky blue? Because of Rayleigh scattering of sunlight.",
    "Llamas are domesticated South American camelids, used as pack animals.",
    "def add(a, b):\n    return a + b\n",
    "corral runs large language models locally, one command at a time.",
] * 4


@dataclass(frozen=True)
class TinySpec:
    architecture: str = "LlamaForCausalLM"
    model_type: str = "llama"
    hidden: int = 256
    intermediate: int = 512
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    vocab: int = 320
    rope_theta: float = 10000.0
    eps: float = 1e-5
    qkv_bias: bool = False
    tied: bool = False
    gemma: bool = False
    """Gemma's differences: embeddings × sqrt(hidden), RMSNorm by (1 + w), GeGLU (tanh)."""
    gemma2: bool = False
    """Gemma 2 on top: norms after attention and around the MLP, tanh soft-capped logits."""
    gemma3: bool = False
    """Gemma 3 on top: Q/K RMSNorm, norms after attention and around the MLP, local RoPE base."""
    fused: bool = False
    """Phi-3's layout: one qkv_proj and one gate_up_proj per layer."""
    llama3_rope: bool = False
    """Llama 3.1's rope_scaling (factor 8, low 1, high 4), over an original context of 64."""
    seed: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


LLAMA = TinySpec()
LLAMA3 = TinySpec(llama3_rope=True, rope_theta=500000.0, seed=6)
LLAMA3_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}
QWEN2 = TinySpec(
    architecture="Qwen2ForCausalLM",
    model_type="qwen2",
    qkv_bias=True,
    tied=True,
    rope_theta=1000000.0,
    eps=1e-6,
    seed=1,
)
GEMMA2 = TinySpec(
    architecture="Gemma2ForCausalLM",
    model_type="gemma2",
    tied=True,
    gemma=True,
    gemma2=True,
    eps=1e-6,
    seed=5,
)
ATTN_SOFTCAP, FINAL_SOFTCAP = 50.0, 30.0
GEMMA3 = TinySpec(
    architecture="Gemma3ForCausalLM",
    model_type="gemma3_text",
    tied=True,
    gemma=True,
    gemma3=True,
    eps=1e-6,
    rope_theta=1000000.0,
    seed=4,
)
LOCAL_ROPE_BASE = 10000.0
PHI3 = TinySpec(architecture="Phi3ForCausalLM", model_type="phi3", fused=True, seed=3)
GEMMA = TinySpec(
    architecture="GemmaForCausalLM", model_type="gemma", tied=True, gemma=True, eps=1e-6, seed=2
)
SPM_VOCAB = 384
SPM_LLAMA = TinySpec(vocab=SPM_VOCAB, seed=7)
"""A Llama whose tokenizer is a SentencePiece tokenizer.model (as Llama 2's)."""
SPM_CORPUS = [
    *CORPUS[:5],
    "Numbers: 12345, 3.14159 and 2026-12-01.",
    "Ünïcödé café, naïve 日本語 and a llama 🦙 need byte fallback.",
    "  two leading spaces,  double spaces   and trailing ",
    "tabs\tand\nnew lines",
]


def to_bf16_bits(array: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 bits (round to nearest even), as uint16."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], dtype: str = "F32") -> None:
    """Write float32 arrays as F32, F16 or BF16 safetensors."""
    encoded = {
        name: (
            to_bf16_bits(array)
            if dtype == "BF16"
            else np.ascontiguousarray(array, dtype="<f2" if dtype == "F16" else "<f4")
        )
        for name, array in tensors.items()
    }
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, array in encoded.items():
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    raw = json.dumps(header).encode()
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        for array in encoded.values():
            handle.write(array.tobytes())


def _weights(spec: TinySpec) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(spec.seed)

    def w(*shape: int, scale: float = 0.08) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    h, f, hd = spec.hidden, spec.intermediate, spec.head_dim
    out: dict[str, np.ndarray] = {"model.embed_tokens.weight": w(spec.vocab, h, scale=0.5)}
    for i in range(spec.layers):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"] = 1 + w(h, scale=0.1)
        out[p + "self_attn.q_proj.weight"] = w(spec.heads * hd, h)
        out[p + "self_attn.k_proj.weight"] = w(spec.kv_heads * hd, h)
        out[p + "self_attn.v_proj.weight"] = w(spec.kv_heads * hd, h)
        if spec.qkv_bias:
            out[p + "self_attn.q_proj.bias"] = w(spec.heads * hd, scale=0.1)
            out[p + "self_attn.k_proj.bias"] = w(spec.kv_heads * hd, scale=0.1)
            out[p + "self_attn.v_proj.bias"] = w(spec.kv_heads * hd, scale=0.1)
        out[p + "self_attn.o_proj.weight"] = w(h, spec.heads * hd)
        out[p + "post_attention_layernorm.weight"] = 1 + w(h, scale=0.1)
        if spec.gemma3:
            out[p + "self_attn.q_norm.weight"] = w(hd, scale=0.1)
            out[p + "self_attn.k_norm.weight"] = w(hd, scale=0.1)
        if spec.gemma2 or spec.gemma3:
            out[p + "pre_feedforward_layernorm.weight"] = w(h, scale=0.1)
            out[p + "post_feedforward_layernorm.weight"] = w(h, scale=0.1)
        out[p + "mlp.gate_proj.weight"] = w(f, h)
        out[p + "mlp.up_proj.weight"] = w(f, h)
        out[p + "mlp.down_proj.weight"] = w(h, f)
    out["model.norm.weight"] = 1 + w(h, scale=0.1)
    if not spec.tied:
        out["lm_head.weight"] = w(spec.vocab, h, scale=0.2)
    return out


def _tokenizer(directory: Path, spec: TinySpec) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab - 3,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "bos_token": "<|im_start|>",
                "eos_token": "<|im_end|>",
                "unk_token": "<|endoftext|>",
                "add_bos_token": False,
                "chat_template": CHAT_TEMPLATE,
            }
        )
    )


def train_sentencepiece(path: Path, **options: Any) -> Any:
    """Train a BPE SentencePiece model with byte fallback (Llama 2's settings) into `path`.

    Returns its `sentencepiece.SentencePieceProcessor`."""
    import sentencepiece

    prefix = path.parent / "sp"
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(SPM_CORPUS * 3),
        model_prefix=str(prefix),
        model_type=options.pop("model_type", "bpe"),
        vocab_size=options.pop("vocab_size", SPM_VOCAB),
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        num_threads=1,
        minloglevel=2,
        **options,
    )
    prefix.with_suffix(".model").rename(path)
    prefix.with_suffix(".vocab").unlink()
    return sentencepiece.SentencePieceProcessor(model_file=str(path))


def build_spm_checkpoint(
    directory: Path, tokenizer_config: dict[str, Any] | None = None, **options: Any
) -> tuple[dict[str, np.ndarray], Any]:
    """A tiny Llama checkpoint whose only tokenizer is a trained tokenizer.model.

    Returns its weights and the SentencePieceProcessor of its tokenizer."""
    weights = build_checkpoint(directory, SPM_LLAMA)
    (directory / "tokenizer.json").unlink()
    (directory / "tokenizer_config.json").unlink()
    processor = train_sentencepiece(directory / "tokenizer.model", **options)
    assert processor.get_piece_size() == SPM_VOCAB
    if tokenizer_config is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return weights, processor


def _fuse(weights: dict[str, np.ndarray], spec: TinySpec) -> dict[str, np.ndarray]:
    fused = dict(weights)
    for i in range(spec.layers):
        p = f"model.layers.{i}."
        q, k, v = (fused.pop(p + f"self_attn.{n}_proj.weight") for n in "qkv")
        fused[p + "self_attn.qkv_proj.weight"] = np.concatenate([q, k, v])
        gate, up = fused.pop(p + "mlp.gate_proj.weight"), fused.pop(p + "mlp.up_proj.weight")
        fused[p + "mlp.gate_up_proj.weight"] = np.concatenate([gate, up])
    return fused


def build_checkpoint(
    directory: Path, spec: TinySpec = LLAMA, *, shards: int = 1, dtype: str = "F32"
) -> dict[str, np.ndarray]:
    """Write a tiny checkpoint into `directory`; returns its weights (as stored)."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = _weights(spec)
    if dtype == "BF16":
        weights = {n: from_bf16_bits(to_bf16_bits(a)) for n, a in weights.items()}
    elif dtype == "F16":
        weights = {n: a.astype(np.float16).astype(np.float32) for n, a in weights.items()}
    config = {
        "architectures": [spec.architecture],
        "model_type": spec.model_type,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "max_position_embeddings": 512,
        "rms_norm_eps": spec.eps,
        "rope_theta": spec.rope_theta,
        "vocab_size": spec.vocab,
        "tie_word_embeddings": spec.tied,
        "head_dim": spec.head_dim,
        "rope_scaling": LLAMA3_SCALING if spec.llama3_rope else None,
        "hidden_activation": "gelu_pytorch_tanh",
        "sliding_window": 512,
        "rope_local_base_freq": LOCAL_ROPE_BASE,
        "query_pre_attn_scalar": spec.head_dim,
        "attn_logit_softcapping": ATTN_SOFTCAP if spec.gemma2 else None,
        "final_logit_softcapping": FINAL_SOFTCAP if spec.gemma2 else None,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    (directory / "config.json").write_text(json.dumps(config))
    stored = _fuse(weights, spec) if spec.fused else weights
    names = list(stored)
    for index in range(shards):
        part = names[index::shards]
        file = (
            f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
            if shards > 1
            else "model.safetensors"
        )
        write_safetensors(directory / file, {n: stored[n] for n in part}, dtype)
    _tokenizer(directory, spec)
    return weights


def _rms(x: np.ndarray, weight: np.ndarray, eps: float, gemma: bool = False) -> np.ndarray:
    scale = 1 + weight if gemma else weight
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * scale


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _llama3_inv_freq(inv: np.ndarray) -> np.ndarray:
    """transformers' _compute_llama3_parameters."""
    c = LLAMA3_SCALING
    old, low, high, factor = (
        c["original_max_position_embeddings"],
        c["low_freq_factor"],
        c["high_freq_factor"],
        c["factor"],
    )
    wavelen = 2 * np.pi / inv
    scaled = np.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return np.where(medium, smoothed, scaled)


def _rope(x: np.ndarray, theta: float, llama3: bool = False) -> np.ndarray:
    """HF rotate-half RoPE over (heads, tokens, head_dim)."""
    dim = x.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    if llama3:
        inv = _llama3_inv_freq(inv)
    angles = np.arange(x.shape[1])[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)
    half = dim // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def reference_logits(
    weights: dict[str, np.ndarray], spec: TinySpec, tokens: list[int]
) -> np.ndarray:
    """Logits for every position: RMSNorm, RoPE, GQA causal attention, SwiGLU (GeGLU) MLP."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    n, hd = len(tokens), spec.head_dim
    x = w["model.embed_tokens.weight"][tokens]
    if spec.gemma:
        x = x * np.sqrt(spec.hidden)
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    for i in range(spec.layers):
        p = f"model.layers.{i}."
        h = _rms(x, w[p + "input_layernorm.weight"], spec.eps, spec.gemma)
        q = h @ w[p + "self_attn.q_proj.weight"].T
        k = h @ w[p + "self_attn.k_proj.weight"].T
        v = h @ w[p + "self_attn.v_proj.weight"].T
        if spec.qkv_bias:
            q += w[p + "self_attn.q_proj.bias"]
            k += w[p + "self_attn.k_proj.bias"]
            v += w[p + "self_attn.v_proj.bias"]
        q = q.reshape(n, spec.heads, hd).transpose(1, 0, 2)
        k = k.reshape(n, spec.kv_heads, hd).transpose(1, 0, 2)
        theta = spec.rope_theta
        if spec.gemma3:
            q = _rms(q, w[p + "self_attn.q_norm.weight"], spec.eps, True)
            k = _rms(k, w[p + "self_attn.k_norm.weight"], spec.eps, True)
            # five sliding-window layers with the local base, then one global
            theta = LOCAL_ROPE_BASE if (i + 1) % 6 else spec.rope_theta
        q, k = _rope(q, theta, spec.llama3_rope), _rope(k, theta, spec.llama3_rope)
        v = v.reshape(n, spec.kv_heads, hd).transpose(1, 0, 2)
        group = spec.heads // spec.kv_heads
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        if spec.gemma2:
            scores = np.tanh(scores / ATTN_SOFTCAP) * ATTN_SOFTCAP
        scores = scores + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        attn = (scores @ v).transpose(1, 0, 2).reshape(n, spec.heads * hd)
        attn = attn @ w[p + "self_attn.o_proj.weight"].T
        if spec.gemma2 or spec.gemma3:
            attn = _rms(attn, w[p + "post_attention_layernorm.weight"], spec.eps, True)
            x = x + attn
            h = _rms(x, w[p + "pre_feedforward_layernorm.weight"], spec.eps, True)
        else:
            x = x + attn
            h = _rms(x, w[p + "post_attention_layernorm.weight"], spec.eps, spec.gemma)
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        act = _gelu_tanh(gate) if spec.gemma else gate / (1 + np.exp(-gate))
        mlp = (act * up) @ w[p + "mlp.down_proj.weight"].T
        if spec.gemma2 or spec.gemma3:
            mlp = _rms(mlp, w[p + "post_feedforward_layernorm.weight"], spec.eps, True)
        x = x + mlp
    x = _rms(x, w["model.norm.weight"], spec.eps, spec.gemma)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    logits = x @ head.T
    if spec.gemma2:
        logits = np.tanh(logits / FINAL_SOFTCAP) * FINAL_SOFTCAP
    return logits

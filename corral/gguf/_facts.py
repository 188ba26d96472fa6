"""The typed facts `GGUFInfo` carries, read out of validated metadata and tensors.

Each number corral computes with (layers, heads, context length, token ids) is checked
to be an integer in a sane range, so a hostile file cannot make an estimate divide by
zero, go negative or overflow, nor point a special token outside the vocabulary (the
llama.cpp out-of-bounds reads of security-cases.md §4.B19).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, TypedDict

from corral.gguf._format import FILE_TYPE_NAMES, ArraySummary, ValueType
from corral.gguf._source import Source, show
from corral.gguf.info import TensorInfo

__all__ = ["Facts", "derive_facts"]

# Architectures that llama.cpp runs as encoders (no causal decoding, no KV cache).
EMBEDDING_ARCHITECTURES = frozenset(
    {
        "bert",
        "nomic-bert",
        "nomic-bert-moe",
        "jina-bert-v2",
        "jina-bert-v3",
        "neo-bert",
        "modern-bert",
        "t5encoder",
    }
)

# When general.file_type is missing, llama.cpp guesses from the commonest tensor type,
# naming k-quants as their medium mix.
_GUESSED_FILE_TYPE = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}

_LIMITS = {
    "context_length": (1, 1 << 32),
    "embedding_length": (1, 1 << 20),
    "block_count": (0, 4096),
    "attention.head_count": (0, 1 << 16),
    "attention.head_count_kv": (0, 1 << 16),
    "attention.key_length": (0, 1 << 16),
    "attention.value_length": (0, 1 << 16),
    "feed_forward_length": (0, 1 << 24),
    "vocab_size": (0, 1 << 24),
    "pooling_type": (-1, 16),
}


class Facts(TypedDict):
    """The `GGUFInfo` fields derived here."""

    architecture: str
    parameter_count: int
    file_type: str
    context_length: int | None
    embedding_length: int | None
    block_count: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None
    value_length: int | None
    feed_forward_length: int | None
    chat_template: str | None
    tokenizer_model: str | None
    vocab_size: int | None
    bos_token_id: int | None
    eos_token_id: int | None
    bos_token: str | None
    eos_token: str | None
    pooling_type: int | None
    is_embedding: bool


def derive_facts(src: Source, metadata: dict[str, Any], tensors: list[TensorInfo]) -> Facts:
    """Read the typed facts; `src` must still be open (special tokens are looked up in it)."""
    arch = _string(src, metadata, "general.architecture") or "unknown"

    def number(name: str) -> int | None:
        return _int(src, metadata, f"{arch}.{name}", *_LIMITS[name])

    tokens = metadata.get("tokenizer.ggml.tokens")
    if tokens is not None and not _is_string_array(tokens):
        raise src.invalid("tokenizer.ggml.tokens is not an array of strings")
    vocab_size = len(tokens) if tokens is not None else number("vocab_size")
    bos_id, bos = _special_token(src, metadata, "bos", tokens)
    eos_id, eos = _special_token(src, metadata, "eos", tokens)
    pooling = number("pooling_type")
    return Facts(
        architecture=arch,
        parameter_count=_parameter_count(src, metadata, tensors),
        file_type=_file_type(src, metadata, tensors),
        context_length=number("context_length"),
        embedding_length=number("embedding_length"),
        block_count=number("block_count"),
        head_count=number("attention.head_count"),
        head_count_kv=number("attention.head_count_kv"),
        key_length=number("attention.key_length"),
        value_length=number("attention.value_length"),
        feed_forward_length=number("feed_forward_length"),
        chat_template=_string(src, metadata, "tokenizer.chat_template"),
        tokenizer_model=_string(src, metadata, "tokenizer.ggml.model"),
        vocab_size=vocab_size,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        bos_token=bos,
        eos_token=eos,
        pooling_type=pooling,
        is_embedding=pooling is not None or arch in EMBEDDING_ARCHITECTURES,
    )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    return "an array"


def _string(src: Source, metadata: dict[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    if value is None or isinstance(value, str):
        return value
    raise src.invalid(f"{key} is {_describe(value)}, not a string")


def _check_int(src: Source, key: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise src.invalid(f"{show(key)} is {_describe(value)}, not an integer")
    if not lo <= value <= hi:
        raise src.invalid(f"{show(key)} is {value}, outside {lo}..{hi}")
    return value


def _int(src: Source, metadata: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    """An integer fact; a per-layer array (head counts of some models) gives its maximum."""
    value = metadata.get(key)
    if value is None or isinstance(value, ArraySummary):
        return None
    if isinstance(value, list):
        checked = [_check_int(src, key, v, lo, hi) for v in value]
        return max(checked, default=None)
    return _check_int(src, key, value, lo, hi)


def _is_string_array(value: Any) -> bool:
    if isinstance(value, ArraySummary):
        return value.element_type == ValueType.STRING
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _special_token(
    src: Source, metadata: dict[str, Any], which: str, tokens: Any
) -> tuple[int | None, str | None]:
    key = f"tokenizer.ggml.{which}_token_id"
    if key not in metadata:
        return None, None
    if tokens is None:
        return _check_int(src, key, metadata[key], 0, (1 << 31) - 1), None
    if len(tokens) == 0:
        raise src.invalid(f"{key} is set but tokenizer.ggml.tokens is empty")
    token_id = _check_int(src, key, metadata[key], 0, len(tokens) - 1)
    if isinstance(tokens, list):
        return token_id, tokens[token_id]
    return token_id, src.string_at(tokens, token_id, "tokenizer.ggml.tokens")


def _parameter_count(src: Source, metadata: dict[str, Any], tensors: list[TensorInfo]) -> int:
    declared = metadata.get("general.parameter_count")
    if declared is not None:
        return _check_int(src, "general.parameter_count", declared, 0, (1 << 63) - 1)
    return sum(t.n_elements for t in tensors)


def _file_type(src: Source, metadata: dict[str, Any], tensors: list[TensorInfo]) -> str:
    declared = metadata.get("general.file_type")
    if declared is not None:
        ftype = _check_int(src, "general.file_type", declared, 0, (1 << 32) - 1)
        return FILE_TYPE_NAMES.get(ftype, "unknown")
    weights = Counter(t.type_name for t in tensors if len(t.shape) >= 2)
    if not weights:
        return "unknown"
    commonest = weights.most_common(1)[0][0]
    return _GUESSED_FILE_TYPE.get(commonest, commonest)

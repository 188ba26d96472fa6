"""What a GGUF file says about its model: `GGUFInfo`, `TensorInfo` and the views built on them.

`GGUFInfo` is what `read_gguf` returns: the metadata (long arrays summarised), the tensor
table, and the facts the rest of corral asks for (architecture, size, context length,
special tokens...). `model_info` renders the metadata the way Ollama's `/api/show`
returns it, and `human_number` formats counts as Ollama's `format.HumanNumber` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.errors import GGUFError
from corral.gguf._format import ArraySummary
from corral.gguf._source import opened, show

__all__ = ["GGUFInfo", "TensorInfo", "human_number", "model_info"]

_HIDDEN_KEYS = frozenset({"general.name", "tokenizer.chat_template"})
_TOKENS_KEY = "tokenizer.ggml.tokens"


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor: ggml type, shape (innermost dimension first, as in GGUF) and placement.

    `offset` is relative to the start of the data section (`GGUFInfo.data_offset`);
    `size` is its length in bytes.
    """

    name: str
    ggml_type: int
    type_name: str
    shape: tuple[int, ...]
    offset: int
    size: int

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class GGUFInfo:
    """The validated header of a GGUF file.

    `metadata` maps each key to its value; arrays longer than 1024 elements are kept
    as an `ArraySummary` (type, length, offset) and can be read back with
    `read_array`, one token with `token`. The typed fields are read from the
    metadata, mostly from `<architecture>.<name>` keys; `None` means absent.
    """

    path: Path
    version: int
    file_size: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
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
    alignment: int
    data_offset: int
    tensor_data_size: int
    big_endian: bool = False

    @property
    def parameter_size(self) -> str:
        """The parameter count as Ollama shows it: "134.52M", "3.2B", "8B"."""
        return human_number(self.parameter_count)

    @property
    def head_dim(self) -> int | None:
        """Width of one attention head: `key_length`, else embedding / heads."""
        if self.key_length:
            return self.key_length
        if self.embedding_length and self.head_count:
            return self.embedding_length // self.head_count
        return None

    def arch_value(self, name: str, default: Any = None) -> Any:
        """The value of `<architecture>.<name>`, e.g. `arch_value("rope.freq_base")`."""
        return self.metadata.get(f"{self.architecture}.{name}", default)

    def token(self, index: int) -> str:
        """The text of token `index` from `tokenizer.ggml.tokens`.

        Raises:
            IndexError: `index` is outside the vocabulary.
            GGUFError: the file has no token list, or changed since it was read.
        """
        tokens = self.metadata.get(_TOKENS_KEY)
        if isinstance(tokens, list | ArraySummary) and not 0 <= index < len(tokens):
            raise IndexError(f"token {index} is outside the vocabulary of {len(tokens)}")
        if isinstance(tokens, list):
            return str(tokens[index])
        if not isinstance(tokens, ArraySummary):
            raise GGUFError(f"{show(self.path.name)} has no {_TOKENS_KEY} array")
        with opened(self.path) as src:
            self._check_unchanged(src.size)
            return src.string_at(tokens, index, _TOKENS_KEY)

    def read_array(self, key: str) -> list[Any]:
        """The whole value of array `key`, read back from the file if it was summarised.

        Raises:
            KeyError: no such key.
            GGUFError: the array is too long to load, or the file changed since it was read.
        """
        value = self.metadata[key]
        if not isinstance(value, ArraySummary):
            if not isinstance(value, list):
                raise GGUFError(f"{show(self.path.name)} has {show(key)} that is not an array")
            return value
        with opened(self.path) as src:
            self._check_unchanged(src.size)
            return src.load(value, key)

    def _check_unchanged(self, size: int) -> None:
        if size != self.file_size:
            raise GGUFError(
                f"{show(self.path.name)} changed since it was read"
                f" ({self.file_size} bytes then, {size} now)"
            )


def human_number(n: int) -> str:
    """Format a count as Ollama's `format.HumanNumber`: 999, 1K, 134.52M, 3.2B, 8B.

    Millions keep two decimals and billions one, unless the value is whole.
    """
    if n >= 1_000_000_000:
        value = n / 1_000_000_000
        return f"{value:.0f}B" if value.is_integer() else f"{value:.1f}B"
    if n >= 1_000_000:
        value = n / 1_000_000
        return f"{value:.0f}M" if value.is_integer() else f"{value:.2f}M"
    if n >= 1_000:
        return f"{n / 1_000:.0f}K"
    return str(n)


def model_info(info: GGUFInfo, *, verbose: bool = False) -> dict[str, Any]:
    """The `model_info` object of Ollama's `/api/show`.

    All metadata except `general.name` and `tokenizer.chat_template`, keys sorted (as
    Go marshals a map), plus `general.parameter_count`. Arrays longer than five
    elements become `[]` unless `verbose`, in which case summarised arrays are read
    back from the file (so `verbose` may raise `GGUFError` if the file has changed).
    """
    out: dict[str, Any] = {}
    for key, value in info.metadata.items():
        if key in _HIDDEN_KEYS:
            continue
        if isinstance(value, ArraySummary):
            value = info.read_array(key) if verbose else []
        elif isinstance(value, list) and len(value) > 5 and not verbose:
            value = []
        out[key] = _plain(value)
    out["general.parameter_count"] = info.parameter_count
    return dict(sorted(out.items()))


def _plain(value: Any) -> Any:
    """Replace summaries nested inside kept arrays with `[]`, so the result is JSON."""
    if isinstance(value, ArraySummary):
        return []
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value

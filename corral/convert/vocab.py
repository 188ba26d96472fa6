"""Tokenizers of Hugging Face checkpoints, written as llama.cpp's GGUF vocabulary.

Three kinds are read from `tokenizer.json`, without `transformers`:

- byte-level BPE (GPT-2 style, Llama 3, Qwen2, SmolLM): tokenizer model `gpt2`,
  merges, and the pre-tokenizer name llama.cpp keys its split regex on;
- SentencePiece-style BPE with byte fallback (Llama 2, Mistral): model `llama`,
  with scores and byte tokens;
- WordPiece (BERT): model `bert`, in llama.cpp's phantom-space spelling.

Special token ids, add-BOS/EOS flags and the chat template come from
`tokenizer_config.json` (and `chat_template.jinja`) through gguf-py's SpecialVocab.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from corral.errors import ConversionError

__all__ = ["Vocab", "load_vocab"]

logger = logging.getLogger(__name__)

_NORMAL = int(gguf.TokenType.NORMAL)
_CONTROL = int(gguf.TokenType.CONTROL)
_USER_DEFINED = int(gguf.TokenType.USER_DEFINED)
_UNUSED = int(gguf.TokenType.UNUSED)
_BYTE = int(gguf.TokenType.BYTE)

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@dataclass
class Vocab:
    """Everything a GGUF file says about a tokenizer."""

    model: str
    pre: str
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] = field(default_factory=list)
    token_type_count: int | None = None

    def write(self, writer: gguf.GGUFWriter, directory: Path) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        if self.merges:
            writer.add_token_merges(self.merges)
        if self.token_type_count is not None:
            writer.add_token_type_count(self.token_type_count)
        special = gguf.SpecialVocab(directory, load_merges=False, n_vocab=len(self.tokens))
        special.add_to_gguf(writer, quiet=True)


def _pre_tokenizer_name(pre: Any) -> str:
    """llama.cpp's name for a byte-level BPE pre-tokenizer, from its tokenizer.json form."""
    if not isinstance(pre, dict):
        return "default"
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps if isinstance(s, dict)]
    splits = [
        s.get("pattern", {}).get("Regex")
        for s in steps
        if isinstance(s, dict) and s.get("type") == "Split" and isinstance(s.get("pattern"), dict)
    ]
    if _LLAMA3_SPLIT in splits:
        return "llama-bpe"
    if _QWEN2_SPLIT in splits:
        return "qwen2"
    digits = [s for s in steps if isinstance(s, dict) and s.get("type") == "Digits"]
    if kinds == ["Digits", "ByteLevel"] and digits[0].get("individual_digits"):
        return "smollm"
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    logger.warning("unrecognised pre-tokenizer %s; using llama.cpp's default", kinds)
    return "default"


def _ordered_tokens(data: dict[str, Any], vocab_size: int | None) -> tuple[list[str], set[int]]:
    """Tokens in id order, padded to the model's vocab size; and the ids that are special."""
    model = data["model"]
    table: dict[int, str] = {}
    raw = model.get("vocab")
    if isinstance(raw, dict):
        for token, index in raw.items():
            table[int(index)] = token
    special: set[int] = set()
    for entry in data.get("added_tokens") or []:
        table[int(entry["id"])] = entry["content"]
        if entry.get("special"):
            special.add(int(entry["id"]))
    size = max(len(table), (max(table) + 1) if table else 0, vocab_size or 0)
    tokens = [table.get(i, f"[PAD{i}]") for i in range(size)]
    return tokens, special


def _types(tokens: list[str], special: set[int], data: dict[str, Any]) -> list[int]:
    user = {int(e["id"]) for e in data.get("added_tokens") or [] if not e.get("special")}
    missing = {i for i, t in enumerate(tokens) if t == f"[PAD{i}]"}
    types: list[int] = []
    for index in range(len(tokens)):
        if index in missing:
            types.append(_UNUSED)
        elif index in special:
            types.append(_CONTROL)
        elif index in user:
            types.append(_USER_DEFINED)
        else:
            types.append(_NORMAL)
    return types


def _merges(model: dict[str, Any]) -> list[str]:
    merges = model.get("merges") or []
    return [" ".join(m) if isinstance(m, list) else str(m) for m in merges]


def _bpe(data: dict[str, Any], vocab_size: int | None) -> Vocab:
    tokens, special = _ordered_tokens(data, vocab_size)
    types = _types(tokens, special, data)
    model = data["model"]
    if model.get("byte_fallback"):
        # SentencePiece-style BPE (Llama 2, Mistral): llama.cpp's `llama` tokenizer.
        for index, token in enumerate(tokens):
            if types[index] == _NORMAL and _BYTE_TOKEN.fullmatch(token):
                types[index] = _BYTE
        scores = [-float(i) for i in range(len(tokens))]
        return Vocab("llama", "default", tokens, types, scores=scores)
    return Vocab(
        "gpt2", _pre_tokenizer_name(data.get("pre_tokenizer")), tokens, types, merges=_merges(model)
    )


def _phantom(token: str) -> str:
    if token.startswith("[") and token.endswith("]"):
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def _wordpiece(data: dict[str, Any], vocab_size: int | None, type_count: int) -> Vocab:
    tokens, special = _ordered_tokens(data, vocab_size)
    types = _types(tokens, special, data)
    return Vocab(
        "bert", "default", [_phantom(t) for t in tokens], types, token_type_count=type_count
    )


def load_vocab(directory: Path, config: dict[str, Any]) -> Vocab:
    """Read the checkpoint's tokenizer.json into a Vocab."""
    path = directory / "tokenizer.json"
    if not path.is_file():
        if (directory / "tokenizer.model").is_file():
            raise ConversionError(
                f"{str(directory)!r} has only a SentencePiece tokenizer.model; "
                "converting it needs a tokenizer.json"
            )
        raise ConversionError(f"{str(directory)!r} has no tokenizer.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"cannot read tokenizer.json: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConversionError("tokenizer.json has no tokenizer model")
    kind = data["model"].get("type")
    vocab_size = config.get("vocab_size")
    vocab_size = vocab_size if isinstance(vocab_size, int) else None
    if kind == "BPE":
        return _bpe(data, vocab_size)
    if kind == "WordPiece":
        return _wordpiece(data, vocab_size, int(config.get("type_vocab_size", 2)))
    raise ConversionError(
        f"tokenizer.json uses the {kind!r} tokenizer model; supported: BPE, WordPiece"
    )

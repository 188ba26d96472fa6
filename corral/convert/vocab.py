"""Tokenizers of Hugging Face checkpoints, written as llama.cpp's GGUF vocabulary.

Three kinds are read from `tokenizer.json`, without `transformers`:

- byte-level BPE (GPT-2 style, Llama 3, Qwen2, SmolLM): tokenizer model `gpt2`,
  merges, and the pre-tokenizer name llama.cpp keys its split regex on;
- SentencePiece-style BPE with byte fallback (Llama 2, Mistral): model `llama`,
  with scores and byte tokens;
- WordPiece (BERT): model `bert`, in llama.cpp's phantom-space spelling.

A checkpoint with no tokenizer.json but a SentencePiece `tokenizer.model` (Llama 2,
Mistral, Gemma) gets model `llama` from the ModelProto itself, as llama.cpp's
convert_hf_to_gguf.py builds it: pieces with their scores and types, then the
tokens of `added_tokens.json` and `tokenizer_config.json`'s added_tokens_decoder.

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

from corral.convert import sentencepiece as spm
from corral.errors import ConversionError

__all__ = ["Vocab", "load_vocab"]

logger = logging.getLogger(__name__)

_NORMAL = int(gguf.TokenType.NORMAL)
_CONTROL = int(gguf.TokenType.CONTROL)
_USER_DEFINED = int(gguf.TokenType.USER_DEFINED)
_UNUSED = int(gguf.TokenType.UNUSED)
_BYTE = int(gguf.TokenType.BYTE)
_UNKNOWN = int(gguf.TokenType.UNKNOWN)

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
    add_space_prefix: bool | None = None
    special_ids: dict[str, int] = field(default_factory=dict)
    """Special token ids found here, before config.json's (as tokenizer.json's would be)."""
    fallback_special: dict[str, int] = field(default_factory=dict)
    """Special token ids to use where tokenizer_config.json and config.json name none."""

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
        if self.add_space_prefix is not None:
            writer.add_add_space_prefix(self.add_space_prefix)
        special = gguf.SpecialVocab(directory, load_merges=False, n_vocab=len(self.tokens))
        special.special_token_ids.update(self.special_ids)
        for kind, index in self.fallback_special.items():
            if 0 <= index < len(self.tokens):
                special.special_token_ids.setdefault(kind, index)
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


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"cannot read {path.name}: {exc}") from None


def _looks_special(token: str) -> bool:
    """llama.cpp's does_token_look_special: added tokens that ought to be control tokens."""
    return (
        token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
        or (token.startswith("<|") and token.endswith("|>"))
        or (token.startswith("<\uff5c") and token.endswith("\uff5c>"))
        or (token.startswith("<unused") and token.endswith(">"))
    )


_SPM_TYPES = {
    spm.UNKNOWN: _UNKNOWN,
    spm.CONTROL: _CONTROL,
    spm.UNUSED: _UNUSED,
    spm.BYTE: _BYTE,
}
"""SentencePiece piece types llama.cpp keeps; the rest (user-defined too) are NORMAL."""


def _sentencepiece(directory: Path, vocab_size: int | None) -> Vocab:
    """llama.cpp's _create_vocab_sentencepiece and _set_vocab_sentencepiece."""
    path = directory / "tokenizer.model"
    model = spm.read_model(path)
    if model.model_type not in (spm.BPE, spm.UNIGRAM):
        kind = spm.MODEL_TYPE_NAMES.get(model.model_type, str(model.model_type))
        raise ConversionError(
            f"{path.name} is a SentencePiece {kind} model; supported: BPE, Unigram"
        )
    if model.remove_extra_whitespaces or model.has_charsmap:
        logger.warning(
            "%s normalizes text (%s) before tokenizing; llama.cpp's SPM tokenizer does not",
            path,
            model.normalizer_name or "custom rules",
        )
    size = vocab_size or len(model.pieces)
    tokens = [f"[PAD{i}]" for i in range(size)]
    scores = [-10000.0] * size
    types = [_UNUSED] * size
    if len(model.pieces) > size:
        logger.warning("ignoring tokenizer.model pieces from id %d: vocab size is %d", size, size)
    for index, piece in enumerate(model.pieces[:size]):
        tokens[index] = piece.piece
        scores[index] = piece.score
        types[index] = _SPM_TYPES.get(piece.type, _NORMAL)
    added = _read_json(directory / "added_tokens.json")
    if isinstance(added, dict):
        for token, index in added.items():
            if isinstance(index, int) and 0 <= index < size:
                tokens[index], scores[index], types[index] = str(token), -1000.0, _USER_DEFINED
    tokenizer_config = _read_json(directory / "tokenizer_config.json")
    if not isinstance(tokenizer_config, dict):
        tokenizer_config = {}
    decoder = tokenizer_config.get("added_tokens_decoder")
    for key, entry in (decoder if isinstance(decoder, dict) else {}).items():
        if not (str(key).isdigit() and isinstance(entry, dict)):
            continue
        index, content = int(key), entry.get("content")
        if index >= size or not isinstance(content, str):
            continue
        if entry.get("special") or _looks_special(content):
            types[index] = _CONTROL
        else:
            content = content.replace("\u2581", " ")  # pre-normalized user-defined spaces
            types[index] = _USER_DEFINED
        tokens[index], scores[index] = content, -1000.0
    # Without a tokenizer.json, gguf's SpecialVocab cannot map tokenizer_config.json's
    # token strings to ids: look them up here (they win over config.json's ids, as with a
    # tokenizer.json), and fall back to the trainer spec's ids where nothing names one.
    trainer = {"unk": model.unk_id, "bos": model.bos_id, "eos": model.eos_id, "pad": model.pad_id}
    found: dict[str, int] = {}
    position = {token: index for index, token in reversed(list(enumerate(tokens)))}
    for kind in ("bos", "eos", "unk", "pad"):
        entry = tokenizer_config.get(f"{kind}_token")
        content = entry.get("content") if isinstance(entry, dict) else entry
        if isinstance(content, str) and content in position:
            found[kind] = position[content]
    fallback = {kind: index for kind, index in trainer.items() if index >= 0}
    prefix = tokenizer_config.get("add_prefix_space")
    return Vocab(
        "llama",
        "default",
        tokens,
        types,
        scores=scores,
        add_space_prefix=prefix if isinstance(prefix, bool) else model.add_dummy_prefix,
        special_ids=found,
        fallback_special=fallback,
    )


def load_vocab(directory: Path, config: dict[str, Any]) -> Vocab:
    """Read the checkpoint's tokenizer.json (or SentencePiece tokenizer.model) into a Vocab."""
    path = directory / "tokenizer.json"
    vocab_size = config.get("vocab_size")
    vocab_size = vocab_size if isinstance(vocab_size, int) and vocab_size > 0 else None
    if not path.is_file():
        if (directory / "tokenizer.model").is_file():
            return _sentencepiece(directory, vocab_size)
        raise ConversionError(f"{str(directory)!r} has no tokenizer.json or tokenizer.model")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"cannot read tokenizer.json: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConversionError("tokenizer.json has no tokenizer model")
    kind = data["model"].get("type")
    if kind == "BPE":
        return _bpe(data, vocab_size)
    if kind == "WordPiece":
        return _wordpiece(data, vocab_size, int(config.get("type_vocab_size", 2)))
    raise ConversionError(
        f"tokenizer.json uses the {kind!r} tokenizer model; supported: BPE, WordPiece"
    )

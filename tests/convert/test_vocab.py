"""Tokenizer.json → GGUF vocabulary: pre-tokenizer names, token types, WordPiece spelling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corral.convert.vocab import _LLAMA3_SPLIT, _QWEN2_SPLIT, load_vocab
from corral.errors import ConversionError


def _write(directory: Path, data: dict[str, Any]) -> Path:
    (directory / "tokenizer.json").write_text(json.dumps(data))
    return directory


def _bpe(pre: Any, **model: Any) -> dict[str, Any]:
    return {
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"], **model},
        "pre_tokenizer": pre,
        "added_tokens": [
            {"id": 3, "content": "<|end|>", "special": True},
            {"id": 4, "content": "<tool>", "special": False},
        ],
    }


def _split(regex: str) -> dict[str, Any]:
    return {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated"},
            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
        ],
    }


@pytest.mark.parametrize(
    ("pre", "name"),
    [
        ({"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}, "gpt-2"),
        (_split(_LLAMA3_SPLIT), "llama-bpe"),
        (_split(_QWEN2_SPLIT), "qwen2"),
        (
            {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": True},
                    {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
                ],
            },
            "smollm",
        ),
        ({"type": "Whitespace"}, "default"),
        (None, "default"),
    ],
)
def test_pre_tokenizer_names(tmp_path: Path, pre: Any, name: str) -> None:
    vocab = load_vocab(_write(tmp_path, _bpe(pre)), {"vocab_size": 6})
    assert vocab.model == "gpt2"
    assert vocab.pre == name
    assert vocab.merges == ["a b"]
    assert vocab.tokens == ["a", "b", "ab", "<|end|>", "<tool>", "[PAD5]"]
    assert vocab.types == [1, 1, 1, 3, 4, 5]  # normal, control, user-defined, unused


def test_list_merges(tmp_path: Path) -> None:
    data = _bpe(None)
    data["model"]["merges"] = [["a", "b"]]
    assert load_vocab(_write(tmp_path, data), {}).merges == ["a b"]


def test_byte_fallback_bpe_is_spm_style(tmp_path: Path) -> None:
    data = _bpe({"type": "Metaspace"}, byte_fallback=True)
    data["model"]["vocab"] = {"<unk>": 0, "<0x0A>": 1, "▁a": 2}
    vocab = load_vocab(_write(tmp_path, data), {})
    assert vocab.model == "llama"
    assert vocab.types[:3] == [1, 6, 1]  # <0x0A> is a byte token
    assert vocab.scores == [0.0, -1.0, -2.0, -3.0, -4.0]
    assert not vocab.merges


def test_wordpiece_phantom_spelling(tmp_path: Path) -> None:
    data = {
        "model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "[CLS]": 1, "sky": 2, "##s": 3}},
        "added_tokens": [
            {"id": 0, "content": "[PAD]", "special": True},
            {"id": 1, "content": "[CLS]", "special": True},
        ],
    }
    vocab = load_vocab(_write(tmp_path, data), {"type_vocab_size": 2})
    assert vocab.model == "bert"
    assert vocab.tokens == ["[PAD]", "[CLS]", "\u2581sky", "s"]
    assert vocab.types == [3, 3, 1, 1]
    assert vocab.token_type_count == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot read tokenizer.json"),
        ("[]", "no tokenizer model"),
        (json.dumps({"model": {"type": "Unigram", "vocab": []}}), "'Unigram' tokenizer model"),
    ],
)
def test_bad_tokenizers(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "tokenizer.json").write_text(content)
    with pytest.raises(ConversionError, match=message):
        load_vocab(tmp_path, {})


def test_bad_sentencepiece_model(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.model").write_bytes(b"\0")
    with pytest.raises(ConversionError, match=r"tokenizer\.model is not a SentencePiece model"):
        load_vocab(tmp_path, {})

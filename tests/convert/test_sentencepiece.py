"""SentencePiece tokenizer.model → GGUF `llama` vocabulary, checked against sentencepiece itself.

The tokenizer.model files are real: trained in the test with the `sentencepiece`
package (BPE with byte fallback, as Llama 2's). The converted model is loaded by
llama.cpp, whose tokenizer must split text exactly as sentencepiece does.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corral.convert import convert_checkpoint, sentencepiece as spm
from corral.convert.vocab import load_vocab
from corral.errors import ConversionError
from tests.convert.tiny import (
    CHAT_TEMPLATE,
    SPM_LLAMA,
    SPM_VOCAB,
    build_spm_checkpoint,
    reference_logits,
    train_sentencepiece,
)

pytest.importorskip("sentencepiece")
llama_cpp = pytest.importorskip("llama_cpp")

SAMPLES = [
    "Why is the sky blue?",
    "The quick brown fox jumps over 13 lazy dogs, 2026 times.",
    "Ünïcödé café 日本語 🦙 Ω≈ç",
    "  leading,  double   and trailing spaces ",
    "digits 0123456789 and 3.14159",
    "tabs\tand\nnew lines",
    "",
]


def _load(path: Path, **kwargs: Any) -> Any:
    return llama_cpp.Llama(str(path), n_ctx=128, verbose=False, n_threads=2, **kwargs)


def test_parser_reads_what_sentencepiece_reads(tmp_path: Path) -> None:
    processor = train_sentencepiece(tmp_path / "tokenizer.model")
    model = spm.read_model(tmp_path / "tokenizer.model")
    assert len(model.pieces) == processor.get_piece_size() == SPM_VOCAB
    for index, piece in enumerate(model.pieces):
        assert piece.piece == processor.id_to_piece(index)
        assert piece.score == pytest.approx(processor.get_score(index), abs=0)
        kind = (
            spm.UNKNOWN
            if processor.is_unknown(index)
            else spm.CONTROL
            if processor.is_control(index)
            else spm.BYTE
            if processor.is_byte(index)
            else spm.UNUSED
            if processor.is_unused(index)
            else spm.NORMAL
        )
        assert piece.type == kind, piece
    assert sum(p.type == spm.BYTE for p in model.pieces) == 256
    assert model.model_type == spm.BPE
    assert model.vocab_size == SPM_VOCAB
    assert model.byte_fallback
    assert (model.unk_id, model.bos_id, model.eos_id, model.pad_id) == (
        processor.unk_id(),
        processor.bos_id(),
        processor.eos_id(),
        processor.pad_id(),
    )
    assert model.pad_id == -1  # a negative int32 on the wire
    assert model.add_dummy_prefix
    assert not model.remove_extra_whitespaces
    assert model.normalizer_name == "identity"


def test_normalizer_flags_and_special_ids(tmp_path: Path) -> None:
    train_sentencepiece(tmp_path / "tokenizer.model", add_dummy_prefix=False, pad_id=3, unk_id=0)
    model = spm.read_model(tmp_path / "tokenizer.model")
    assert not model.add_dummy_prefix
    assert model.pad_id == 3
    assert model.pieces[3].type == spm.CONTROL


@pytest.mark.parametrize("dummy_prefix", [True, False], ids=["dummy-prefix", "no-dummy-prefix"])
def test_llama_cpp_tokenizes_as_sentencepiece(tmp_path: Path, dummy_prefix: bool) -> None:
    _, processor = build_spm_checkpoint(
        tmp_path / "ckpt",
        {"chat_template": CHAT_TEMPLATE, "add_bos_token": True, "add_eos_token": False},
        add_dummy_prefix=dummy_prefix,
    )
    out = tmp_path / "model.gguf"
    convert_checkpoint(tmp_path / "ckpt", out)
    model = _load(out, vocab_only=True)
    try:
        assert model.n_vocab() == SPM_VOCAB
        assert model.metadata["tokenizer.ggml.model"] == "llama"
        assert model.metadata["tokenizer.ggml.add_space_prefix"] == str(dummy_prefix).lower()
        assert model.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE
        for text in SAMPLES:
            expected = processor.encode(text)
            assert model.tokenize(text.encode(), add_bos=False) == expected, text
            assert model.tokenize(text.encode(), add_bos=True) == [processor.bos_id(), *expected]
            decoded = model.detokenize(expected).decode()  # keeps the dummy prefix's space
            assert decoded.removeprefix(" " if dummy_prefix else "") == processor.decode(expected)
        unicode = processor.encode("Ω≈ç")  # not in the training text
        assert any(processor.is_byte(i) for i in unicode)  # byte fallback was exercised
        assert (model.token_bos(), model.token_eos()) == (processor.bos_id(), processor.eos_id())
        assert model.metadata["tokenizer.ggml.unknown_token_id"] == str(processor.unk_id())
        assert model.metadata["tokenizer.ggml.add_bos_token"] == "true"
        assert model.metadata["tokenizer.ggml.add_eos_token"] == "false"
        assert "tokenizer.ggml.padding_token_id" not in model.metadata  # pad_id is -1
    finally:
        model.close()


def test_converted_model_matches_reference_and_generates(tmp_path: Path) -> None:
    weights, processor = build_spm_checkpoint(tmp_path / "ckpt", {"add_bos_token": True})
    out = tmp_path / "model.gguf"
    convert_checkpoint(tmp_path / "ckpt", out, out_type="F32")
    tokens = [processor.bos_id(), *processor.encode("Why is the sky blue? Ünïcödé 42")]
    expected = reference_logits(weights, SPM_LLAMA, tokens)
    model = _load(out, logits_all=True, n_batch=128, n_gpu_layers=0)
    try:
        model.eval(tokens)
        got = np.array(model.scores[: len(tokens)], dtype=np.float64)
        assert float(np.abs(got - expected).max()) < 2e-3 * float(np.abs(expected).max())
        model.reset()
        result = model.create_completion("The quick brown", max_tokens=8, temperature=0.0)
        assert result["usage"]["completion_tokens"] > 0
        assert result["choices"][0]["text"]
    finally:
        model.close()


def test_added_tokens_and_config_special_tokens(tmp_path: Path) -> None:
    directory = tmp_path / "ckpt"
    config = {
        "bos_token": "<s>",
        "eos_token": "<|im_end|>",
        "added_tokens_decoder": {
            "1": {"content": "<s>", "special": True},
            str(SPM_VOCAB - 1): {"content": "<|im_end|>", "special": False},  # looks special
            str(SPM_VOCAB - 2): {"content": "\u2581tool\u2581call", "special": False},
            str(SPM_VOCAB + 5): {"content": "<out of range>", "special": True},
        },
    }
    build_spm_checkpoint(directory, config)
    added = {"<sep>": SPM_VOCAB - 3, "<x>": SPM_VOCAB}  # the second is out of range
    (directory / "added_tokens.json").write_text(json.dumps(added))
    vocab = load_vocab(directory, {"vocab_size": SPM_VOCAB})
    assert len(vocab.tokens) == SPM_VOCAB
    assert vocab.tokens[-3:] == ["<sep>", " tool call", "<|im_end|>"]
    assert vocab.types[-3:] == [4, 4, 3]  # user-defined, user-defined, control
    assert vocab.scores is not None and vocab.scores[-3:] == [-1000.0] * 3
    assert vocab.types[:3] == [2, 3, 3]  # <unk> unknown; <s> and </s> control
    assert vocab.special_ids == {"bos": 1, "eos": SPM_VOCAB - 1}  # found by their text
    out = tmp_path / "model.gguf"
    convert_checkpoint(directory, out)
    model = _load(out, vocab_only=True)
    try:
        assert model.token_eos() == SPM_VOCAB - 1  # tokenizer_config.json wins over config.json
        assert model.token_bos() == 1
        # user-defined tokens are matched whole, without special-token parsing
        assert (SPM_VOCAB - 3) in model.tokenize(b"a<sep>b", add_bos=False)
        assert model.tokenize(b"<|im_end|>", add_bos=False, special=True) == [SPM_VOCAB - 1]
    finally:
        model.close()


def test_vocab_size_pads_with_unused_tokens(tmp_path: Path) -> None:
    train_sentencepiece(tmp_path / "tokenizer.model")
    vocab = load_vocab(tmp_path, {"vocab_size": SPM_VOCAB + 4})
    assert vocab.tokens[SPM_VOCAB:] == [f"[PAD{i}]" for i in range(SPM_VOCAB, SPM_VOCAB + 4)]
    assert vocab.types[SPM_VOCAB:] == [5] * 4
    assert vocab.scores is not None and vocab.scores[SPM_VOCAB:] == [-10000.0] * 4
    assert len(load_vocab(tmp_path, {"vocab_size": SPM_VOCAB - 4}).tokens) == SPM_VOCAB - 4


def _field(number: int, wire: int, payload: bytes) -> bytes:
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    key = varint(number << 3 | wire)
    return key + (varint(len(payload)) + payload if wire == 2 else payload)


def _piece(text: str, score: float, kind: int) -> bytes:
    body = (
        _field(1, 2, text.encode())
        + _field(2, 5, struct.pack("<f", score))
        + _field(3, 0, bytes([kind]))
    )
    return _field(1, 2, body)


def test_hand_encoded_model_and_unknown_fields(tmp_path: Path) -> None:
    trainer = _field(3, 0, b"\x01") + _field(99, 2, b"skipped") + _field(41, 0, b"\x05")
    data = (
        _piece("<unk>", 0.0, 2)
        + _field(7, 1, bytes(8))  # unknown fixed64 field
        + _piece("\u2581a", -1.5, 1)
        + _field(2, 2, trainer)
        + _field(3, 2, _field(3, 0, b"\x00"))
    )
    model = spm.parse_model(data)
    assert model.pieces == [spm.Piece("<unk>", 0.0, 2), spm.Piece("\u2581a", -1.5, 1)]
    assert model.model_type == spm.UNIGRAM
    assert model.bos_id == 5
    assert not model.add_dummy_prefix


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda data: data[:-3], "runs past the end"),
        (lambda data: b"", "has no pieces"),
        (lambda data: b"version https://git-lfs.github.com/spec/v1\n", "not a SentencePiece"),
        (lambda data: b"\xff" * 12, "longer than 10 bytes"),
        (lambda data: b"\x0b" + data, "wire type 3"),
        (lambda data: _field(1, 2, _field(1, 2, b"\xff\xfe")), "not UTF-8"),
    ],
    ids=["truncated", "empty", "text", "bad-varint", "group", "bad-utf8"],
)
def test_bad_tokenizer_model(tmp_path: Path, mutate, message: str) -> None:
    directory = tmp_path / "ckpt"
    build_spm_checkpoint(directory)
    path = directory / "tokenizer.model"
    path.write_bytes(mutate(path.read_bytes()))
    out = tmp_path / "model.gguf"
    with pytest.raises(ConversionError, match=message) as info:
        convert_checkpoint(directory, out)
    text = str(info.value)
    assert text.startswith("tokenizer.model is not a SentencePiece model: ")
    assert text.count(". ") == 0 and "\n" not in text  # one sentence
    assert not out.exists()


def test_word_model_is_refused(tmp_path: Path) -> None:
    data = _piece("<unk>", 0.0, 2) + _piece("sky", 0.0, 1) + _field(2, 2, _field(3, 0, b"\x03"))
    (tmp_path / "tokenizer.model").write_bytes(data)
    with pytest.raises(ConversionError, match="SentencePiece word model; supported: BPE, Unigram"):
        load_vocab(tmp_path, {})


def test_neither_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"has no tokenizer\.json or tokenizer\.model"):
        load_vocab(tmp_path, {})

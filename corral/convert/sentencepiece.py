"""SentencePiece `tokenizer.model` files, read without the protobuf package.

A `tokenizer.model` is one serialized `ModelProto` (sentencepiece_model.proto):
its pieces (text, score, type), the trainer spec (model type, special ids) and
the normalizer spec (dummy prefix, whitespace handling). This module decodes
the protobuf wire format for just those fields and skips every other one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corral.errors import ConversionError

__all__ = [
    "BPE",
    "BYTE",
    "CHAR",
    "CONTROL",
    "MODEL_TYPE_NAMES",
    "NORMAL",
    "UNIGRAM",
    "UNKNOWN",
    "UNUSED",
    "USER_DEFINED",
    "WORD",
    "Piece",
    "SentencePieceModel",
    "parse_model",
    "read_model",
]

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4
MODEL_TYPE_NAMES = {UNIGRAM: "Unigram", BPE: "BPE", WORD: "word", CHAR: "char"}

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

# ModelProto fields
_PIECES, _TRAINER_SPEC, _NORMALIZER_SPEC = 1, 2, 3
# ModelProto.SentencePiece fields
_PIECE, _SCORE, _TYPE = 1, 2, 3
# TrainerSpec fields
_MODEL_TYPE, _VOCAB_SIZE, _BYTE_FALLBACK = 3, 4, 35
_UNK_ID, _BOS_ID, _EOS_ID, _PAD_ID = 40, 41, 42, 43
# NormalizerSpec fields
_NORM_NAME, _CHARSMAP, _ADD_DUMMY_PREFIX, _REMOVE_EXTRA_WHITESPACES = 1, 2, 3, 4


class _WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True, slots=True)
class Piece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass(slots=True)
class SentencePieceModel:
    """The parts of a ModelProto a GGUF vocabulary needs (defaults as in the .proto)."""

    pieces: list[Piece] = field(default_factory=list)
    model_type: int = UNIGRAM
    vocab_size: int = 8000
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    normalizer_name: str = ""
    has_charsmap: bool = False
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise _WireError(f"a number runs past the end at byte {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _WireError(f"a number at byte {pos} is longer than 10 bytes")


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(number, wire type, value) of each field: ints for varint/fixed, bytes for the rest."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _WireError(f"field number 0 at byte {start}")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _FIXED64:
            if pos + 8 > len(data):
                raise _WireError(f"field {number} runs past the end at byte {start}")
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == _FIXED32:
            if pos + 4 > len(data):
                raise _WireError(f"field {number} runs past the end at byte {start}")
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        elif wire == _BYTES:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _WireError(f"field {number} runs past the end at byte {start}")
            value, pos = data[pos : pos + length], pos + length
        else:
            raise _WireError(f"field {number} at byte {start} has wire type {wire}")
        yield number, wire, value


def _int(value: int | bytes, name: str) -> int:
    if not isinstance(value, int):
        raise _WireError(f"{name} is not a number")
    return value


def _int32(value: int | bytes, name: str) -> int:
    """A signed int32 (negatives are sign-extended to 64 bits on the wire)."""
    raw = _int(value, name) & 0xFFFFFFFFFFFFFFFF
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def _bytes(value: int | bytes, name: str) -> bytes:
    if not isinstance(value, bytes):
        raise _WireError(f"{name} is not a string")
    return value


def _text(value: int | bytes, name: str) -> str:
    try:
        return _bytes(value, name).decode("utf-8")
    except UnicodeDecodeError:
        raise _WireError(f"{name} is not UTF-8") from None


def _piece(data: bytes) -> Piece:
    text, score, kind = "", 0.0, NORMAL
    for number, wire, value in _fields(data):
        if number == _PIECE:
            text = _text(value, "a piece")
        elif number == _SCORE:
            if wire != _FIXED32 or not isinstance(value, int):
                raise _WireError(f"the score of piece {text!r} is not a float")
            score = struct.unpack("<f", value.to_bytes(4, "little"))[0]
        elif number == _TYPE:
            kind = _int(value, "a piece's type")
            if kind not in (NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE):
                raise _WireError(f"piece {text!r} has unknown type {kind}")
    return Piece(text, score, kind)


def _trainer_spec(data: bytes, model: SentencePieceModel) -> None:
    for number, _, value in _fields(data):
        if number == _MODEL_TYPE:
            model.model_type = _int(value, "the model type")
        elif number == _VOCAB_SIZE:
            model.vocab_size = _int32(value, "the vocab size")
        elif number == _BYTE_FALLBACK:
            model.byte_fallback = bool(_int(value, "byte_fallback"))
        elif number == _UNK_ID:
            model.unk_id = _int32(value, "unk_id")
        elif number == _BOS_ID:
            model.bos_id = _int32(value, "bos_id")
        elif number == _EOS_ID:
            model.eos_id = _int32(value, "eos_id")
        elif number == _PAD_ID:
            model.pad_id = _int32(value, "pad_id")


def _normalizer_spec(data: bytes, model: SentencePieceModel) -> None:
    for number, _, value in _fields(data):
        if number == _NORM_NAME:
            model.normalizer_name = _text(value, "the normalizer name")
        elif number == _CHARSMAP:
            model.has_charsmap = bool(_bytes(value, "the charsmap"))
        elif number == _ADD_DUMMY_PREFIX:
            model.add_dummy_prefix = bool(_int(value, "add_dummy_prefix"))
        elif number == _REMOVE_EXTRA_WHITESPACES:
            model.remove_extra_whitespaces = bool(_int(value, "remove_extra_whitespaces"))


def parse_model(data: bytes) -> SentencePieceModel:
    """Decode a serialized ModelProto; ValueError says what is wrong with it."""
    model = SentencePieceModel()
    for number, _, value in _fields(data):
        if number == _PIECES:
            model.pieces.append(_piece(_bytes(value, "a piece")))
        elif number == _TRAINER_SPEC:
            _trainer_spec(_bytes(value, "the trainer spec"), model)
        elif number == _NORMALIZER_SPEC:
            _normalizer_spec(_bytes(value, "the normalizer spec"), model)
    if not model.pieces:
        raise _WireError("it has no pieces")
    return model


def read_model(path: Path) -> SentencePieceModel:
    """Read a tokenizer.model file, or raise ConversionError naming it.

    The message names the file, not its path: in the daemon that is a scratch directory."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    try:
        return parse_model(data)
    except _WireError as exc:
        raise ConversionError(f"{path.name} is not a SentencePiece model: {exc}") from None

"""Build small GGUF files in memory, for tests and fixtures.

`build_gguf` writes a complete, valid file: header, metadata, tensor table, padding
and tensor data (zeros unless given). Python values map to GGUF types as gguf-py maps
them (int → uint32 or int32, wider when needed; float → float32; list → array of the
first element's type); wrap a value in `Typed` to choose the type yourself. The lower
helpers (`encode_string`, `encode_value`) let tests assemble deliberately broken files.

This is not a converter: it holds everything in memory and suits files of a few MiB.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.gguf._format import GGML_TYPES, VALUE_SIZES, ValueType

__all__ = [
    "TensorSpec",
    "Typed",
    "build_gguf",
    "encode_header",
    "encode_string",
    "encode_value",
]


@dataclass(frozen=True, slots=True)
class Typed:
    """A metadata value with an explicit GGUF type (and element type, for arrays)."""

    value_type: int
    value: Any
    element_type: int | None = None


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor to write: `shape` innermost dimension first, `data` zeros when None."""

    name: str
    ggml_type: int
    shape: tuple[int, ...]
    data: bytes | None = None

    def nbytes(self) -> int:
        kind = GGML_TYPES[self.ggml_type]
        count = 1
        for dim in self.shape:
            count *= dim
        return count // kind.block_size * kind.type_size


def encode_string(text: str | bytes, order: str = "<") -> bytes:
    """A GGUF string: uint64 length, then the UTF-8 bytes."""
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack(order + "Q", len(raw)) + raw


def _infer(value: Any) -> Typed:
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed(ValueType.BOOL, value)
    if isinstance(value, int):
        if 0 <= value < 1 << 32:
            return Typed(ValueType.UINT32, value)
        if -(1 << 31) <= value < 0:
            return Typed(ValueType.INT32, value)
        return Typed(ValueType.INT64 if value < 0 else ValueType.UINT64, value)
    if isinstance(value, float):
        return Typed(ValueType.FLOAT32, value)
    if isinstance(value, str | bytes):
        return Typed(ValueType.STRING, value)
    if isinstance(value, list | tuple):
        element = _infer(value[0]).value_type if value else ValueType.STRING
        return Typed(ValueType.ARRAY, list(value), element)
    raise TypeError(f"cannot store {type(value).__name__} in GGUF metadata")


def encode_value(value: Any, order: str = "<") -> tuple[int, bytes]:
    """Encode a metadata value; return its GGUF type id and bytes (without the type)."""
    typed = _infer(value)
    vtype = typed.value_type
    if vtype in VALUE_SIZES:
        return vtype, struct.pack(order + VALUE_SIZES[vtype][0], typed.value)
    if vtype == ValueType.STRING:
        return vtype, encode_string(typed.value, order)
    if vtype == ValueType.ARRAY:
        etype = typed.element_type
        if etype is None:
            etype = _infer(typed.value[0]).value_type if typed.value else ValueType.STRING
        parts = [struct.pack(order + "IQ", etype, len(typed.value))]
        for item in typed.value:
            if not isinstance(item, Typed):
                item = _infer(list(item)) if etype == ValueType.ARRAY else Typed(etype, item)
            parts.append(encode_value(item, order)[1])
        return vtype, b"".join(parts)
    raise ValueError(f"unknown GGUF value type {vtype}")


def build_gguf(
    metadata: Mapping[str, Any],
    tensors: Sequence[TensorSpec] = (),
    *,
    version: int = 3,
    alignment: int = 32,
    big_endian: bool = False,
) -> bytes:
    """The bytes of a GGUF file holding `metadata` and `tensors`.

    `general.alignment` in `metadata`, if any, is written as given; `alignment` is what
    the tensor data is actually padded to.
    """
    order = ">" if big_endian else "<"
    out = [encode_header(version, len(tensors), len(metadata), order)]
    for key, value in metadata.items():
        vtype, payload = encode_value(value, order)
        out.append(encode_string(key, order) + struct.pack(order + "I", vtype) + payload)
    offset = 0
    placed: list[tuple[int, bytes]] = []
    for spec in tensors:
        offset = -(-offset // alignment) * alignment
        out.append(
            encode_string(spec.name, order)
            + struct.pack(
                f"{order}I{len(spec.shape)}QIQ",
                len(spec.shape),
                *spec.shape,
                spec.ggml_type,
                offset,
            )
        )
        data = spec.data if spec.data is not None else bytes(spec.nbytes())
        placed.append((offset, data))
        offset += len(data)
    blob = b"".join(out)
    if tensors:
        blob += bytes(-len(blob) % alignment)
        body = bytearray()
        for tensor_offset, data in placed:
            body += bytes(tensor_offset - len(body))
            body += data
        blob += bytes(body)
    return blob


def encode_header(version: int, n_tensors: int, n_kv: int, order: str = "<") -> bytes:
    """Magic, version, tensor count and metadata count."""
    return b"GGUF" + struct.pack(order + "IQQ", version, n_tensors, n_kv)

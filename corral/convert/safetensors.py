"""A bounded, lazy reader for safetensors checkpoints (single file or sharded).

The header is parsed here (a little-endian u64 length, then JSON) and checked
against the file before anything is trusted: every tensor's byte range must lie
inside the data section and match its dtype and shape. Tensor data is then read
through a memory map, one tensor at a time, so reading a checkpoint never needs
more memory than the tensor being read.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corral.errors import ConversionError

__all__ = ["Checkpoint", "TensorRef", "open_checkpoint"]

_MAX_HEADER = 100 << 20

_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),  # numpy has no bfloat16; the raw bits are kept as u16
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "I16": ("<i2", 2),
    "I8": ("i1", 1),
    "U8": ("u1", 1),
    "BOOL": ("u1", 1),
}


@dataclass(frozen=True, slots=True)
class TensorRef:
    """Where one tensor lives: its file, dtype, shape and byte range in the data section."""

    name: str
    path: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def _parse_header(path: Path) -> tuple[int, dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) != 8:
                raise ConversionError(f"{path.name} is too short to be a safetensors file")
            (length,) = struct.unpack("<Q", head)
            if length > _MAX_HEADER:
                raise ConversionError(
                    f"{path.name} declares a {length}-byte safetensors header, over the "
                    f"{_MAX_HEADER}-byte limit"
                )
            raw = handle.read(length)
    except OSError as exc:
        raise ConversionError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if len(raw) != length:
        raise ConversionError(f"{path.name} ends inside its safetensors header")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConversionError(f"{path.name} has a safetensors header that is not JSON") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path.name} has a safetensors header that is not a JSON object")
    return 8 + length, header


def _tensor_refs(path: Path) -> list[TensorRef]:
    data_start, header = _parse_header(path)
    data_size = path.stat().st_size - data_start
    refs: list[TensorRef] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise ConversionError(f"{path.name}: tensor {name!r} has a malformed header entry")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DTYPES:
            raise ConversionError(f"{path.name}: tensor {name!r} has unsupported dtype {dtype!r}")
        if not (
            isinstance(shape, list)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise ConversionError(f"{path.name}: tensor {name!r} has a malformed shape {shape!r}")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise ConversionError(f"{path.name}: tensor {name!r} has malformed data_offsets")
        start, end = offsets
        expected = math.prod(shape) * _DTYPES[dtype][1]
        if not (0 <= start <= end <= data_size) or end - start != expected:
            raise ConversionError(
                f"{path.name}: tensor {name!r} byte range {start}..{end} does not fit the file "
                f"or its {dtype} shape {shape}"
            )
        refs.append(
            TensorRef(name, path, dtype, tuple(shape), data_start + start, data_start + end)
        )
    return refs


class Checkpoint:
    """The safetensors files of one checkpoint directory, indexed by tensor name."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.tensors: dict[str, TensorRef] = {}
        for path in files:
            for ref in _tensor_refs(path):
                if ref.name in self.tensors:
                    raise ConversionError(f"tensor {ref.name!r} appears in more than one shard")
                self.tensors[ref.name] = ref
        self._maps: dict[Path, mmap.mmap] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def __iter__(self) -> Iterator[TensorRef]:
        return iter(self.tensors.values())

    def _map(self, ref: TensorRef) -> mmap.mmap:
        mapped = self._maps.get(ref.path)
        if mapped is None:
            with ref.path.open("rb") as handle:
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._maps[ref.path] = mapped
        return mapped

    def read(self, name: str, rows: tuple[int, int] | None = None) -> np.ndarray[Any, Any]:
        """The tensor (or rows `start..end` of its first axis) as a read-only view of the map."""
        ref = self.tensors[name]
        shape = ref.shape
        offset, count = ref.start, math.prod(shape)
        if rows is not None and shape:
            start, end = max(0, rows[0]), min(shape[0], rows[1])
            row = math.prod(shape[1:])
            offset += start * row * _DTYPES[ref.dtype][1]
            count = (end - start) * row
            shape = (end - start, *shape[1:])
        array = np.frombuffer(
            self._map(ref), dtype=np.dtype(_DTYPES[ref.dtype][0]), count=count, offset=offset
        )
        return array.reshape(shape)

    def read_float(self, name: str, rows: tuple[int, int] | None = None) -> np.ndarray[Any, Any]:
        """Like `read`, as floats: F32/F16 stay views, BF16 and integers widen to float32."""
        ref = self.tensors[name]
        array = self.read(name, rows)
        if ref.dtype == "BF16":
            return (array.astype(np.uint32) << 16).view(np.float32)
        if ref.dtype in {"F32", "F16"}:
            return array
        return array.astype(np.float32)

    def release(self, name: str) -> None:
        """Drop the tensor's pages from this process's memory (they stay in the page cache)."""
        ref = self.tensors[name]
        mapped = self._maps.get(ref.path)
        if mapped is None or ref.nbytes == 0:
            return
        start = ref.start // mmap.PAGESIZE * mmap.PAGESIZE
        try:
            mapped.madvise(mmap.MADV_DONTNEED, start, ref.end - start)
        except (AttributeError, OSError, ValueError):  # not on this platform: only a hint
            pass

    def close(self) -> None:
        for mapped in self._maps.values():
            try:
                mapped.close()
            except BufferError:  # an array still views it; the map goes with the array
                pass
        self._maps.clear()


def open_checkpoint(directory: Path) -> Checkpoint:
    """Index the `*.safetensors` files of a checkpoint directory (sharded or not)."""
    files = sorted(p for p in directory.glob("*.safetensors") if p.is_file())
    if not files:
        raise ConversionError(f"{str(directory)!r} holds no .safetensors files")
    return Checkpoint(files)

"""`read_gguf`: parse and validate a GGUF header without trusting a single number in it.

The file is read through `_source.Source`, which checks every count and length against
the bytes that remain before reading or looping. On top of that this module checks the
structure a loader relies on:

- magic `GGUF`, version 2 or 3 (either byte order);
- no duplicate keys or tensor names; keys and tensor names valid UTF-8;
- `general.alignment` a uint32 power of two;
- tensors: at most 4 dimensions, a known ggml type, rows a whole number of blocks,
  element and byte counts within int64, offsets aligned, data inside the file and not
  overlapping another tensor's (the "Bleeding Llama" out-of-bounds read, CVE-2026-7482);
- the facts corral uses (layer and head counts, context length, special token ids)
  are integers in a sane range (`_facts`).

Anything wrong raises `GGUFError` with one line naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corral.errors import GGUFError
from corral.gguf._facts import derive_facts
from corral.gguf._format import (
    GGML_TYPES,
    GGUF_MAGIC,
    MAX_ALIGNMENT,
    MAX_KEY_LENGTH,
    MAX_KV_COUNT,
    MAX_TENSOR_DIMS,
    MAX_TENSOR_NAME_LENGTH,
    MAX_TENSORS,
    SUPPORTED_VERSIONS,
    ValueType,
)
from corral.gguf._source import Source, opened, show
from corral.gguf.info import GGUFInfo, TensorInfo

__all__ = ["is_gguf", "read_gguf"]

_HEADER_SIZE = 24  # magic, version, tensor count, metadata count
_MIN_KV_SIZE = 8 + 4 + 1  # empty key, type, one-byte value
_MIN_TENSOR_INFO_SIZE = 8 + 4 + 4 + 8  # empty name, n_dims = 0, type, offset
_INT64_MAX = (1 << 63) - 1
_DEFAULT_ALIGNMENT = 32


def is_gguf(path: Path | str) -> bool:
    """Whether `path` is a regular file that starts with the GGUF magic (nothing more)."""
    try:
        with opened(Path(path)) as src:
            return src.size >= 4 and src.take(4, "the magic") == GGUF_MAGIC
    except GGUFError:
        return False


def read_gguf(path: Path | str) -> GGUFInfo:
    """Read and validate the header of the GGUF file at `path`.

    Raises:
        GGUFError: the file is missing, unreadable, not GGUF, truncated or malformed.
    """
    path = Path(path)
    with opened(path) as src:
        return _parse(src, path)


def _parse(src: Source, path: Path) -> GGUFInfo:
    version, tensor_count, kv_count = _header(src)
    metadata: dict[str, Any] = {}
    alignment = _DEFAULT_ALIGNMENT
    for i in range(kv_count):
        key = src.name(f"metadata key {i}", MAX_KEY_LENGTH)
        if key in metadata:
            raise src.invalid(f"metadata key {show(key)} appears twice")
        vtype = src.u32(f"the type of {show(key)}")
        metadata[key] = src.value(vtype, show(key))
        if key == "general.alignment":
            alignment = _alignment(src, vtype, metadata[key])
    tensors, data_offset, data_size = _tensors(src, tensor_count, alignment)
    facts = derive_facts(src, metadata, tensors)
    return GGUFInfo(
        path=path,
        version=version,
        file_size=src.size,
        metadata=metadata,
        tensors=tuple(tensors),
        alignment=alignment,
        data_offset=data_offset,
        tensor_data_size=data_size,
        big_endian=src.big_endian,
        **facts,
    )


def _header(src: Source) -> tuple[int, int, int]:
    if src.size < 4:
        head = src.take(src.size, "the magic")
        if not head:
            raise GGUFError(f"{src.label} is empty, not a GGUF file")
        if not GGUF_MAGIC.startswith(head):
            raise GGUFError(f"{src.label} is not a GGUF file (bad magic {head!r})")
    else:
        magic = src.take(4, "the magic")
        if magic != GGUF_MAGIC:
            raise GGUFError(f"{src.label} is not a GGUF file (bad magic {magic!r})")
    if src.size < _HEADER_SIZE:
        raise GGUFError(
            f"{src.label} is truncated: the GGUF header needs {_HEADER_SIZE} bytes"
            f" but the file has {src.size}"
        )
    version = src.u32("the version")
    if version not in SUPPORTED_VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        if swapped not in SUPPORTED_VERSIONS:
            raise GGUFError(f"{src.label} has unsupported GGUF version {version} (expected 2 or 3)")
        src.use_big_endian()
        version = swapped
    tensor_count = src.u64("the tensor count")
    kv_count = src.u64("the metadata count")
    if kv_count > MAX_KV_COUNT:
        raise src.invalid(
            f"it claims {kv_count} metadata entries, over the limit of {MAX_KV_COUNT}"
        )
    if tensor_count > MAX_TENSORS:
        raise src.invalid(f"it claims {tensor_count} tensors, over the limit of {MAX_TENSORS}")
    need = kv_count * _MIN_KV_SIZE + tensor_count * _MIN_TENSOR_INFO_SIZE
    if need > src.remaining():
        raise src.truncated(
            f"{kv_count} metadata entries and {tensor_count} tensors", need, "claim at least"
        )
    return version, tensor_count, kv_count


def _alignment(src: Source, vtype: int, value: Any) -> int:
    if vtype != ValueType.UINT32:
        raise src.invalid("general.alignment is not a uint32")
    if value <= 0 or value & (value - 1) or value > MAX_ALIGNMENT:
        raise src.invalid(f"general.alignment is {value}, not a power of two up to {MAX_ALIGNMENT}")
    return int(value)


def _tensors(src: Source, count: int, alignment: int) -> tuple[list[TensorInfo], int, int]:
    """Read and check the tensor table; return it, the data offset and the data size."""
    if count * _MIN_TENSOR_INFO_SIZE > src.remaining():
        raise src.truncated(
            f"{count} tensor descriptions", count * _MIN_TENSOR_INFO_SIZE, "claim at least"
        )
    tensors: list[TensorInfo] = []
    names: set[str] = set()
    for i in range(count):
        info = _tensor(src, i, alignment)
        if info.name in names:
            raise src.invalid(f"tensor name {show(info.name)} appears twice")
        names.add(info.name)
        tensors.append(info)
    data_offset = -(-src.tell() // alignment) * alignment
    data_size = 0
    end_of_data = data_offset
    for info in sorted(tensors, key=lambda t: (t.offset, t.size)):
        start = data_offset + info.offset
        if start < end_of_data:
            raise src.invalid(f"tensor {show(info.name)} overlaps the tensor before it")
        end_of_data = start + info.size
        if end_of_data > src.size:
            raise GGUFError(
                f"{src.label} is truncated: tensor {show(info.name)} needs bytes"
                f" {start}..{end_of_data} but the file has {src.size}"
            )
        data_size += info.size
    return tensors, data_offset, data_size


def _tensor(src: Source, index: int, alignment: int) -> TensorInfo:
    name = src.name(f"the name of tensor {index}", MAX_TENSOR_NAME_LENGTH)
    what = f"tensor {show(name)}"
    n_dims = src.u32(f"the dimension count of {what}")
    if n_dims > MAX_TENSOR_DIMS:
        raise src.invalid(f"{what} has {n_dims} dimensions, more than {MAX_TENSOR_DIMS}")
    *dims, ggml_type, offset = src.unpack(f"{n_dims}QIQ", f"the shape, type and offset of {what}")
    shape = tuple(dims)
    kind = GGML_TYPES.get(ggml_type)
    if kind is None:
        raise src.invalid(f"{what} has unknown ggml type {ggml_type}")
    elements = 1
    for j, dim in enumerate(shape):
        if dim > _INT64_MAX:
            raise src.invalid(f"dimension {j} of {what} is {dim}, beyond int64")
        elements *= dim
    if elements > _INT64_MAX:
        raise src.invalid(f"{what} has {elements} elements, beyond int64 (shape {list(shape)})")
    row = shape[0] if shape else 1
    if row % kind.block_size:
        raise src.invalid(
            f"{what} has rows of {row} elements, not a multiple of the"
            f" {kind.name} block size {kind.block_size}"
        )
    size = elements // kind.block_size * kind.type_size
    if offset % alignment:
        raise src.invalid(
            f"{what} has offset {offset}, not a multiple of the alignment {alignment}"
        )
    return TensorInfo(name, ggml_type, kind.name, shape, offset, size)

"""The safetensors reader: lazy reads, and refusal of malformed headers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from corral.convert.safetensors import open_checkpoint
from corral.errors import ConversionError


def write_safetensors(
    path: Path, tensors: dict[str, np.ndarray], header_extra: dict | None = None
) -> None:
    header: dict = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        dtype = {np.float32: "F32", np.float16: "F16", np.int64: "I64"}[array.dtype.type]
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    header.update(header_extra or {})
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def test_reads_tensors_from_shards(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.ones(5, dtype=np.float16)
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"a": a})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"b": b})
    checkpoint = open_checkpoint(tmp_path)
    assert set(checkpoint.tensors) == {"a", "b"}
    np.testing.assert_array_equal(checkpoint.read("a"), a)
    assert checkpoint.read_float("b").dtype == np.float16  # a view, not widened
    np.testing.assert_array_equal(checkpoint.read_float("b"), np.ones(5))
    np.testing.assert_array_equal(checkpoint.read("a", (1, 3)), a[1:3])
    np.testing.assert_array_equal(checkpoint.read("a", (2, 99)), a[2:])
    checkpoint.release("a")
    np.testing.assert_array_equal(checkpoint.read("a"), a)  # pages fault back in
    checkpoint.close()


def test_bf16_widens_exactly(tmp_path: Path) -> None:
    values = np.array([1.5, -2.0, 3.25], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    raw = json.dumps({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bits.tobytes())
    np.testing.assert_array_equal(open_checkpoint(tmp_path).read_float("x"), values)


def test_no_safetensors(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"no \.safetensors files"):
        open_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 1 << 40), "over the"),
        (struct.pack("<Q", 50) + b"{}", "ends inside"),
        (struct.pack("<Q", 3) + b"{x}", "not JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    ],
)
def test_malformed_headers(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "m.safetensors").write_bytes(content)
    with pytest.raises(ConversionError, match=message):
        open_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}, "unsupported dtype 'Q9'"),
        ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}, "malformed shape"),
        ({"dtype": "F32", "shape": [1], "data_offsets": [0]}, "malformed data_offsets"),
        ({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}, "does not fit"),
        ({"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}, "does not fit"),
        ("nope", "malformed header entry"),
    ],
)
def test_bad_tensor_entries(tmp_path: Path, entry: object, message: str) -> None:
    raw = json.dumps({"t": entry}).encode()
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    with pytest.raises(ConversionError, match=message):
        open_checkpoint(tmp_path)


def test_duplicate_across_shards(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "a.safetensors", {"w": np.zeros(2, dtype=np.float32)})
    write_safetensors(tmp_path / "b.safetensors", {"w": np.zeros(2, dtype=np.float32)})
    with pytest.raises(ConversionError, match="more than one shard"):
        open_checkpoint(tmp_path)

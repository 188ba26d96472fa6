"""Hostile GGUF files (security-cases.md §4.B): each is refused with one specific line.

Every case also runs under tracemalloc: a reader that allocated what a file *claims*
(2^40 array elements, 2^62-byte strings) instead of what it *holds* would show it.
"""

from __future__ import annotations

import os
import re
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corral.errors import GGUFError
from corral.gguf import estimate_memory, model_info, read_gguf
from corral.gguf._format import ValueType
from corral.gguf.writer import TensorSpec, Typed, build_gguf, encode_header, encode_string

MAX_PEAK = 8 << 20
U64_MAX = 2**64 - 1
Q4_0, F32 = 2, 0


def kv(key: str | bytes, vtype: int, payload: bytes) -> bytes:
    return encode_string(key) + struct.pack("<I", vtype) + payload


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def gguf(*kvs: bytes, tensors: int = 0, body: bytes = b"", pad: int = 0) -> bytes:
    """A v3 header claiming len(kvs) entries and `tensors` tensors, then the raw parts."""
    return encode_header(3, tensors, len(kvs)) + b"".join(kvs) + body + bytes(pad)


def tensor_info(name: str | bytes, dims: list[int], ggml_type: int, offset: int) -> bytes:
    return (
        encode_string(name)
        + u32(len(dims))
        + b"".join(u64(d) for d in dims)
        + u32(ggml_type)
        + u64(offset)
    )


def one_tensor(dims: list[int], ggml_type: int = F32, offset: int = 0, data: int = 0) -> bytes:
    """A file with a single tensor description and `data` bytes of (aligned) tensor data."""
    head = gguf(tensors=1, body=tensor_info("w", dims, ggml_type, offset))
    return head + bytes(-len(head) % 32) + bytes(data)


def arch(**facts: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"general.architecture": "llama"}
    md.update({f"llama.{k}": v for k, v in facts.items()})
    return md


TOKENS = {"tokenizer.ggml.tokens": ["<s>", "</s>", "a", "b"]}

CASES: list[tuple[str, bytes, str]] = [
    # B1: empty and truncated headers (CVE-2024-39720)
    ("empty", b"", r'^"x\.gguf" is empty, not a GGUF file$'),
    ("three bytes", b"GGU", r"is truncated: the GGUF header needs 24 bytes but the file has 3$"),
    ("magic only", b"GGUF", r"is truncated: the GGUF header needs 24 bytes but the file has 4$"),
    # B2: magic and version
    ("bad magic", b"abcd" + bytes(40), r"""^"x\.gguf" is not a GGUF file \(bad magic b'abcd'\)$"""),
    ("ggml magic", b"GGML" + bytes(40), r"not a GGUF file \(bad magic b'GGML'\)"),
    ("short bad magic", b"GX", r"not a GGUF file \(bad magic b'GX'\)"),
    (
        "version 99",
        b"GGUF" + u32(99) + bytes(16),
        r"unsupported GGUF version 99 \(expected 2 or 3\)",
    ),
    ("version 0", b"GGUF" + u32(0) + bytes(16), r"unsupported GGUF version 0 "),
    ("version 1", b"GGUF" + u32(1) + bytes(16), r"unsupported GGUF version 1 "),
    ("version 4", b"GGUF" + u32(4) + bytes(16), r"unsupported GGUF version 4 "),
    ("version max", b"GGUF" + u32(2**32 - 1) + bytes(16), r"unsupported GGUF version 4294967295"),
    # B3: counts
    (
        "kv count 2^64-1",
        b"GGUF" + u32(3) + u64(0) + u64(U64_MAX),
        r"invalid: it claims 18446744073709551615 metadata entries, over the limit of 65536$",
    ),
    (
        "tensor count 2^64-1",
        b"GGUF" + u32(3) + u64(U64_MAX) + u64(0),
        r"invalid: it claims 18446744073709551615 tensors, over the limit of 65536$",
    ),
    (
        "kv count beyond the file",
        b"GGUF" + u32(3) + u64(0) + u64(1000) + bytes(100),
        r"truncated: 1000 metadata entries and 0 tensors claim at least 13000 bytes"
        r" but 100 remain$",
    ),
    (
        "tensor count beyond the file",
        b"GGUF" + u32(3) + u64(5000) + u64(0) + bytes(100),
        r"truncated: 0 metadata entries and 5000 tensors claim at least 120000 bytes",
    ),
    # B4: string lengths
    (
        "key length 2^62",
        gguf(u64(2**62)) + bytes(8),
        r"invalid: metadata key 0 is 4611686018427387904 bytes long, over the 1024-byte limit$",
    ),
    (
        "key runs past the end",
        gguf(u64(100) + b"general"),
        r"truncated: metadata key 0 claims 100 bytes but 7 remain$",
    ),
    (
        "string value 2^63",
        gguf(kv("general.name", ValueType.STRING, u64(2**63))),
        r'invalid: "general.name" is 9223372036854775808 bytes long, over the 16777216-byte',
    ),
    (
        "string value past the end",
        gguf(kv("general.name", ValueType.STRING, u64(1000) + b"abc")),
        r'truncated: "general.name" claims 1000 bytes but 3 remain$',
    ),
    (
        "string element 2^63",
        gguf(kv("t", ValueType.ARRAY, u32(ValueType.STRING) + u64(1) + u64(2**63))),
        r'invalid: element 0 of "t" is 9223372036854775808 bytes long',
    ),
    # B5, B6, B17: array lengths
    (
        "uint8 array count 2^40",
        gguf(kv("a", ValueType.ARRAY, u32(ValueType.UINT8) + u64(2**40))),
        r'invalid: "a" has 1099511627776 uint8 elements, over the limit of 67108864$',
    ),
    (
        "uint64 array past the end",
        gguf(kv("a", ValueType.ARRAY, u32(ValueType.UINT64) + u64(1 << 20)) + bytes(64)),
        r'truncated: "a" \(1048576 uint64 elements\) claims 8388608 bytes but 64 remain$',
    ),
    (
        "string array count 10^7",
        gguf(kv("tokenizer.ggml.tokens", ValueType.ARRAY, u32(ValueType.STRING) + u64(10**7))),
        r'"tokenizer.ggml.tokens" has 10000000 string elements, over the limit of 2097152$',
    ),
    (
        "string array past the end",
        gguf(kv("t", ValueType.ARRAY, u32(ValueType.STRING) + u64(5000)) + bytes(800)),
        r'truncated: "t" \(5000 string elements\) claims 40000 bytes but 800 remain$',
    ),
    (
        "long string array whose elements run past the end",
        gguf(
            kv("t", ValueType.ARRAY, u32(ValueType.STRING) + u64(2000)) + bytes(8 * 1999) + u64(99)
        ),
        r'truncated: element 1999 of "t" claims 99 bytes but 0 remain$',
    ),
    # B7: nesting and types
    (
        "arrays nested three deep",
        gguf(
            kv(
                "n",
                ValueType.ARRAY,
                (u32(ValueType.ARRAY) + u64(1)) * 2 + u32(ValueType.UINT8) + u64(0),
            )
        ),
        r'invalid: element 0 of element 0 of "n" nests arrays more than 2 deep$',
    ),
    ("value type 13", gguf(kv("k", 13, bytes(8))), r'invalid: "k" has unknown value type 13$'),
    ("value type max", gguf(kv("k", 2**32 - 1, bytes(8))), r"unknown value type 4294967295$"),
    (
        "array of type 99",
        gguf(kv("k", ValueType.ARRAY, u32(99) + u64(1) + bytes(8))),
        r'invalid: "k" is an array of unknown value type 99$',
    ),
    (
        "bool holding 7",
        gguf(kv("b", ValueType.BOOL, b"\x07")),
        r'invalid: "b" is a bool holding 7, not 0 or 1$',
    ),
    # keys
    (
        "non-UTF-8 key",
        gguf(kv(b"general.\xff\xfe", ValueType.UINT8, b"\x00")),
        r"invalid: metadata key 0 is not valid UTF-8 \(b'general.\\xff\\xfe'\)$",
    ),
    (
        "duplicate key (B8)",
        gguf(
            kv("general.architecture", ValueType.STRING, encode_string("llama")),
            kv("general.architecture", ValueType.STRING, encode_string("gemma")),
        ),
        r'invalid: metadata key "general.architecture" appears twice$',
    ),
    # B9: alignment
    (
        "alignment 0",
        gguf(kv("general.alignment", ValueType.UINT32, u32(0))),
        r"invalid: general.alignment is 0, not a power of two up to 16777216$",
    ),
    (
        "alignment 3",
        gguf(kv("general.alignment", ValueType.UINT32, u32(3))),
        r"general.alignment is 3, not a power of two",
    ),
    (
        "alignment 2^31",
        gguf(kv("general.alignment", ValueType.UINT32, u32(2**31))),
        r"general.alignment is 2147483648, not a power of two up to 16777216",
    ),
    (
        "alignment as a string",
        gguf(kv("general.alignment", ValueType.STRING, encode_string("32"))),
        r"invalid: general.alignment is not a uint32$",
    ),
    # B10-B16: tensors
    (
        "n_dims 2^32-1",
        gguf(tensors=1, body=encode_string("w") + u32(2**32 - 1) + bytes(64)),
        r'invalid: tensor "w" has 4294967295 dimensions, more than 4$',
    ),
    ("n_dims 5", one_tensor([1] * 5), r'invalid: tensor "w" has 5 dimensions, more than 4$'),
    (
        "dimension 2^64-1",
        one_tensor([U64_MAX]),
        r'dimension 0 of tensor "w" is 18446744073709551615, beyond int64$',
    ),
    (
        "element overflow",
        one_tensor([2**62, 4]),
        r'tensor "w" has 18446744073709551616 elements, beyond int64',
    ),
    ("tensor type 9999", one_tensor([4], 9999), r'invalid: tensor "w" has unknown ggml type 9999$'),
    ("removed type Q4_2", one_tensor([32], 4), r'invalid: tensor "w" has unknown ggml type 4$'),
    (
        "Q4_0 row of 31",
        one_tensor([31, 2], Q4_0, data=64),
        r'invalid: tensor "w" has rows of 31 elements, not a multiple of the Q4_0 block size 32$',
    ),
    (
        "offset 2^64-32",
        one_tensor([4], F32, offset=2**64 - 32),
        r'truncated: tensor "w" needs bytes 18446744073709551648\.\.18446744073709551664 but',
    ),
    (
        "data one byte short (B16, Bleeding Llama)",
        one_tensor([4, 4], F32, data=63),
        r'truncated: tensor "w" needs bytes 96\.\.160 but the file has 159$',
    ),
    (
        "offset not aligned",
        one_tensor([4], F32, offset=16, data=64),
        r'invalid: tensor "w" has offset 16, not a multiple of the alignment 32$',
    ),
    (
        "overlapping tensors",
        gguf(tensors=2, body=tensor_info("a", [16], F32, 0) + tensor_info("b", [16], F32, 32))
        + bytes(200),
        r'invalid: tensor "b" overlaps the tensor before it$',
    ),
    (
        "duplicate tensor names",
        gguf(tensors=2, body=tensor_info("a", [8], F32, 0) + tensor_info("a", [8], F32, 32))
        + bytes(200),
        r'invalid: tensor name "a" appears twice$',
    ),
    (
        "non-UTF-8 tensor name",
        gguf(tensors=1, body=tensor_info(b"\xc3(", [8], F32, 0)) + bytes(100),
        r"invalid: the name of tensor 0 is not valid UTF-8",
    ),
    # B19: metadata corral computes with
    (
        "eos id 10^9",
        build_gguf({**arch(), **TOKENS, "tokenizer.ggml.eos_token_id": 10**9}),
        r'invalid: "tokenizer.ggml.eos_token_id" is 1000000000, outside 0..3$',
    ),
    (
        "negative bos id",
        build_gguf({**TOKENS, "tokenizer.ggml.bos_token_id": -1}),
        r'"tokenizer.ggml.bos_token_id" is -1, outside 0..3$',
    ),
    (
        "block_count 10^6",
        build_gguf(arch(block_count=10**6)),
        r'invalid: "llama.block_count" is 1000000, outside 0..4096$',
    ),
    (
        "negative block_count",
        build_gguf(arch(block_count=Typed(ValueType.INT32, -1))),
        r'"llama.block_count" is -1, outside 0..4096$',
    ),
    (
        "context_length 0",
        build_gguf(arch(context_length=0)),
        r'"llama.context_length" is 0, outside',
    ),
    (
        "context_length 2^63",
        build_gguf(arch(context_length=Typed(ValueType.UINT64, 2**63))),
        r'"llama.context_length" is 9223372036854775808, outside 1..4294967296$',
    ),
    (
        "context_length as a string",
        build_gguf(arch(context_length="8192")),
        r'invalid: "llama.context_length" is a string, not an integer$',
    ),
    (
        "architecture as a number",
        build_gguf({"general.architecture": 7}),
        r"invalid: general.architecture is an integer, not a string$",
    ),
    (
        "tokens that are not strings",
        build_gguf({"tokenizer.ggml.tokens": [1, 2, 3]}),
        r"invalid: tokenizer.ggml.tokens is not an array of strings$",
    ),
    (
        "eos id with an empty vocabulary",
        build_gguf(
            {
                "tokenizer.ggml.tokens": Typed(ValueType.ARRAY, [], ValueType.STRING),
                "tokenizer.ggml.eos_token_id": 0,
            }
        ),
        r"tokenizer.ggml.eos_token_id is set but tokenizer.ggml.tokens is empty$",
    ),
]


def parse_bounded(path: Path) -> Any:
    tracemalloc.start()
    try:
        return read_gguf(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MAX_PEAK, f"parsing allocated {peak} bytes"


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_file_is_refused(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFError) as caught:
        parse_bounded(path)
    text = str(caught.value)
    assert text.startswith('"x.gguf" '), text
    assert "\n" not in text
    assert caught.value.status == 400
    assert re.search(message, text), text


VALID = build_gguf(
    {
        "general.architecture": "llama",
        "general.name": "tiny",
        "llama.context_length": 128,
        "llama.block_count": 1,
        "llama.attention.head_count": 2,
        "llama.embedding_length": 32,
        "general.tags": ["a", "b"],
        "nested": Typed(ValueType.ARRAY, [[1], [2, 3]], ValueType.ARRAY),
        "tokenizer.ggml.tokens": ["<s>", "</s>", "x"],
        "tokenizer.ggml.eos_token_id": 1,
        "f": 1.5,
    },
    [TensorSpec("a", F32, (8,)), TensorSpec("b", Q4_0, (32, 2))],
)


def test_truncation_at_every_byte_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(VALID)
    read_gguf(path)  # the whole file is fine
    for size in range(1, len(VALID)):
        path.write_bytes(VALID[:size])
        with pytest.raises(GGUFError, match=r'^"x\.gguf" is truncated: '):
            parse_bounded(path)


def test_directory_missing_file_and_fifo(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(GGUFError, match=r'^"dir" is a directory, not a GGUF file$'):
        read_gguf(tmp_path / "dir")
    with pytest.raises(GGUFError, match=r'^"nope.gguf" does not exist$'):
        read_gguf(tmp_path / "nope.gguf")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(GGUFError, match=r'^"pipe" is not a regular file$'):
            read_gguf(tmp_path / "pipe")  # must not block waiting for a writer


def test_total_walk_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("corral.gguf._source.MAX_WALKED_ELEMENTS", 10)
    path = tmp_path / "x.gguf"
    path.write_bytes(build_gguf({"a": ["x"] * 6, "b": ["y"] * 6}))
    with pytest.raises(
        GGUFError, match=r"its string and nested arrays exceed the reader's budget of 10 elements$"
    ):
        read_gguf(path)


def test_total_kept_string_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("corral.gguf._source.MAX_KEPT_STRING_BYTES", 1000)
    path = tmp_path / "x.gguf"
    path.write_bytes(build_gguf({"a": "x" * 600, "b": "y" * 600}))
    with pytest.raises(GGUFError, match=r"its strings exceed 1000 bytes in all$"):
        read_gguf(path)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "m.gguf"


def _check_mutant(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        info = read_gguf(path)
    except GGUFError as exc:
        assert "\n" not in str(exc)
        return
    # Whatever parses must also be usable downstream without surprises.
    estimate = estimate_memory(info, num_ctx=256)
    assert min(estimate.weights, estimate.kv_cache, estimate.compute) >= 0
    try:
        model_info(info, verbose=True)
        if info.vocab_size:
            info.token(info.vocab_size - 1)
    except GGUFError:
        pass


mutations = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=mutations, cut=st.integers(0, 1 << 20))
def test_random_mutations_parse_or_raise_gguf_error(
    fuzz_file: Path, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(VALID)
    for position, byte in edits:
        data[position % len(data)] = byte
    mutant = bytes(data[: max(cut % (len(data) + 40), 1)]) if cut % 3 == 0 else bytes(data)
    _check_mutant(fuzz_file, mutant)


LONG = build_gguf(
    {
        "general.architecture": "llama",
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(1100)],
        "tokenizer.ggml.bos_token_id": 1050,
        "tokenizer.ggml.scores": [0.0] * 1100,
    },
    [TensorSpec("a", F32, (8,))],
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4))
def test_random_mutations_of_a_summarised_vocabulary(
    fuzz_file: Path, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(LONG)
    for position, byte in edits:
        # aim most edits at the header and the first tokens, where the lengths live
        data[position % min(len(data), 400 if position % 2 else len(data))] = byte
    _check_mutant(fuzz_file, bytes(data))

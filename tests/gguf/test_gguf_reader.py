"""read_gguf on well-formed files built by the test: values, arrays, tensors and facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.errors import GGUFError
from corral.gguf import ArraySummary, is_gguf, read_gguf
from corral.gguf._format import ValueType
from corral.gguf.writer import TensorSpec, Typed, build_gguf

Q4_1, F32, Q4_K, F16 = 3, 0, 12, 1


def llama_metadata(**extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {
        "general.architecture": "llama",
        "general.name": "tiny",
        "general.file_type": 3,
        "llama.context_length": 256,
        "llama.embedding_length": 64,
        "llama.block_count": 2,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": ["<s>", "</s>", "a", "b"],
        "tokenizer.ggml.bos_token_id": 0,
        "tokenizer.ggml.eos_token_id": 1,
        "tokenizer.chat_template": "{{ messages }}",
    }
    md.update(extra)
    return md


TENSORS = [
    TensorSpec("token_embd.weight", Q4_1, (64, 4)),
    TensorSpec("output_norm.weight", F32, (64,), bytes(range(256))),
    TensorSpec("blk.0.attn_q.weight", Q4_1, (64, 64)),
]


def write(tmp_path: Path, data: bytes, name: str = "model.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_every_value_type(tmp_path: Path) -> None:
    values = {
        "u8": Typed(ValueType.UINT8, 255),
        "i8": Typed(ValueType.INT8, -128),
        "u16": Typed(ValueType.UINT16, 65535),
        "i16": Typed(ValueType.INT16, -32768),
        "u32": Typed(ValueType.UINT32, 2**32 - 1),
        "i32": Typed(ValueType.INT32, -(2**31)),
        "f32": Typed(ValueType.FLOAT32, 0.5),
        "bool": True,
        "str": "héllo",
        "u64": Typed(ValueType.UINT64, 2**64 - 1),
        "i64": Typed(ValueType.INT64, -(2**63)),
        "f64": Typed(ValueType.FLOAT64, 1e300),
        "ints": [1, 2, 3],
        "nested": Typed(ValueType.ARRAY, [[1, 2], [3]], ValueType.ARRAY),
        "empty": Typed(ValueType.ARRAY, [], ValueType.INT32),
    }
    info = read_gguf(write(tmp_path, build_gguf(values)))
    assert info.metadata == {
        "u8": 255,
        "i8": -128,
        "u16": 65535,
        "i16": -32768,
        "u32": 2**32 - 1,
        "i32": -(2**31),
        "f32": 0.5,
        "bool": True,
        "str": "héllo",
        "u64": 2**64 - 1,
        "i64": -(2**63),
        "f64": 1e300,
        "ints": [1, 2, 3],
        "nested": [[1, 2], [3]],
        "empty": [],
    }
    assert info.architecture == "unknown"
    assert info.tensors == ()


def test_facts_from_metadata_and_tensors(tmp_path: Path) -> None:
    info = read_gguf(write(tmp_path, build_gguf(llama_metadata(), TENSORS)))
    assert info.architecture == "llama"
    assert info.file_type == "Q4_1"
    assert info.parameter_count == 64 * 4 + 64 + 64 * 64
    assert info.parameter_size == "4K"
    assert (info.context_length, info.embedding_length, info.block_count) == (256, 64, 2)
    assert (info.head_count, info.head_count_kv, info.head_dim) == (4, 2, 16)
    assert (info.bos_token, info.eos_token, info.vocab_size) == ("<s>", "</s>", 4)
    assert info.token(3) == "b"
    with pytest.raises(IndexError):
        info.token(-1)
    assert info.chat_template == "{{ messages }}"
    assert info.tokenizer_model == "gpt2"
    assert [t.name for t in info.tensors] == [t.name for t in TENSORS]
    norm = info.tensors[1]
    assert (norm.type_name, norm.shape, norm.size, norm.n_elements) == ("F32", (64,), 256, 64)
    assert norm.offset % 32 == 0
    raw = (tmp_path / "model.gguf").read_bytes()
    start = info.data_offset + norm.offset
    assert raw[start : start + 256] == bytes(range(256))


def test_version_2_and_big_endian_files_read_the_same(tmp_path: Path) -> None:
    little = read_gguf(write(tmp_path, build_gguf(llama_metadata(), TENSORS), "le.gguf"))
    v2 = read_gguf(write(tmp_path, build_gguf(llama_metadata(), TENSORS, version=2), "v2.gguf"))
    big = read_gguf(
        write(tmp_path, build_gguf(llama_metadata(), TENSORS, big_endian=True), "be.gguf")
    )
    assert v2.version == 2 and big.big_endian and not little.big_endian
    assert little.metadata == v2.metadata == big.metadata
    assert little.tensors == v2.tensors == big.tensors


def test_long_arrays_are_summarised_and_tokens_found_by_index(tmp_path: Path) -> None:
    # 3000 tokens of ~600 bytes: the array crosses the reader's 1 MiB buffer and
    # several 1024-element checkpoints.
    tokens = [f"tok{i:05d}" + "x" * 590 for i in range(3000)]
    md = llama_metadata(
        **{
            "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.scores": [float(i) for i in range(3000)],
            "tokenizer.ggml.bos_token_id": 2047,
            "tokenizer.ggml.eos_token_id": 2999,
        }
    )
    info = read_gguf(write(tmp_path, build_gguf(md, TENSORS)))
    summary = info.metadata["tokenizer.ggml.tokens"]
    assert isinstance(summary, ArraySummary)
    assert (summary.type_name, summary.length, len(summary)) == ("string", 3000, 3000)
    scores = info.metadata["tokenizer.ggml.scores"]
    assert isinstance(scores, ArraySummary)
    assert (scores.type_name, scores.length) == ("float32", 3000)
    assert (info.bos_token, info.eos_token) == (tokens[2047], tokens[2999])
    for index in (0, 1, 1023, 1024, 1025, 2048, 2999):
        assert info.token(index) == tokens[index]
    for outside in (3000, -1):
        with pytest.raises(IndexError):
            info.token(outside)
    assert info.read_array("tokenizer.ggml.tokens") == tokens
    assert info.read_array("tokenizer.ggml.scores")[2999] == 2999.0
    assert info.vocab_size == 3000


def test_kept_arrays_end_at_1024_elements(tmp_path: Path) -> None:
    md = {"a.kept": list(range(1024)), "a.long": list(range(1025))}
    info = read_gguf(write(tmp_path, build_gguf(md)))
    assert info.metadata["a.kept"] == list(range(1024))
    assert isinstance(info.metadata["a.long"], ArraySummary)


def test_read_array_refuses_a_file_that_changed(tmp_path: Path) -> None:
    md = llama_metadata(**{"tokenizer.ggml.tokens": [str(i) for i in range(2000)]})
    path = write(tmp_path, build_gguf(md))
    info = read_gguf(path)
    with path.open("ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(GGUFError, match=r'"model.gguf" changed since it was read'):
        info.read_array("tokenizer.ggml.tokens")


def test_file_type_is_guessed_from_the_commonest_weight_type(tmp_path: Path) -> None:
    md = llama_metadata()
    del md["general.file_type"]
    tensors = [
        TensorSpec("a.weight", Q4_K, (256, 2)),
        TensorSpec("b.weight", Q4_K, (256, 2)),
        TensorSpec("c.weight", F16, (256, 2)),
        TensorSpec("n1.weight", F32, (256,)),
        TensorSpec("n2.weight", F32, (256,)),
        TensorSpec("n3.weight", F32, (256,)),
    ]
    info = read_gguf(write(tmp_path, build_gguf(md, tensors)))
    assert info.file_type == "Q4_K_M"


def test_unknown_file_type_id_is_named_unknown(tmp_path: Path) -> None:
    info = read_gguf(write(tmp_path, build_gguf(llama_metadata(**{"general.file_type": 999}))))
    assert info.file_type == "unknown"


def test_declared_parameter_count_wins(tmp_path: Path) -> None:
    md = llama_metadata(**{"general.parameter_count": Typed(ValueType.UINT64, 8_030_261_248)})
    info = read_gguf(write(tmp_path, build_gguf(md, TENSORS)))
    assert info.parameter_count == 8_030_261_248
    assert info.parameter_size == "8.0B"


def test_embedding_models_are_recognised(tmp_path: Path) -> None:
    bert = read_gguf(write(tmp_path, build_gguf({"general.architecture": "bert"}), "b.gguf"))
    pooled = read_gguf(
        write(
            tmp_path,
            build_gguf({"general.architecture": "qwen3", "qwen3.pooling_type": 3}),
            "q.gguf",
        )
    )
    chat = read_gguf(write(tmp_path, build_gguf(llama_metadata()), "c.gguf"))
    assert bert.is_embedding and pooled.is_embedding and not chat.is_embedding
    assert pooled.pooling_type == 3


def test_per_layer_head_counts(tmp_path: Path) -> None:
    md = llama_metadata(**{"llama.attention.head_count_kv": [1, 4]})
    info = read_gguf(write(tmp_path, build_gguf(md)))
    assert info.head_count_kv == 4


def test_custom_alignment(tmp_path: Path) -> None:
    md = llama_metadata(**{"general.alignment": Typed(ValueType.UINT32, 64)})
    info = read_gguf(write(tmp_path, build_gguf(md, TENSORS, alignment=64)))
    assert info.alignment == 64
    assert info.data_offset % 64 == 0
    assert all(t.offset % 64 == 0 for t in info.tensors)


def test_is_gguf_checks_the_magic_only(tmp_path: Path) -> None:
    assert is_gguf(write(tmp_path, b"GGUF", "magic-only.gguf"))
    assert not is_gguf(write(tmp_path, b"GGML" + bytes(20), "ggml.bin"))
    assert not is_gguf(write(tmp_path, b"", "empty.gguf"))
    assert not is_gguf(tmp_path / "missing.gguf")
    assert not is_gguf(tmp_path)


def test_agrees_with_gguf_py(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    md = llama_metadata(**{"tokenizer.ggml.tokens": [f"t{i}" for i in range(1500)]})
    path = write(tmp_path, build_gguf(md, TENSORS))
    ours = read_gguf(path)
    reader = gguf.GGUFReader(path)
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = ours.metadata[key]
        if isinstance(value, ArraySummary):
            value = ours.read_array(key)
        assert value == field.contents(), key
    assert [
        (t.name, t.type_name, t.shape, ours.data_offset + t.offset, t.size) for t in ours.tensors
    ] == [
        (t.name, t.tensor_type.name, tuple(int(d) for d in t.shape), t.data_offset, int(t.n_bytes))
        for t in reader.tensors
    ]


def test_reads_files_written_by_gguf_py(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    np = pytest.importorskip("numpy")
    path = tmp_path / "w.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(128)
    writer.add_block_count(1)
    writer.add_token_list([f"t{i}" for i in range(2000)])
    writer.add_eos_token_id(1999)
    writer.add_chat_template("{{ x }}")
    writer.add_tensor("w", np.ones((3, 32), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = read_gguf(path)
    assert (info.architecture, info.context_length, info.block_count) == ("llama", 128, 1)
    assert info.eos_token == "t1999"
    assert info.chat_template == "{{ x }}"
    assert [(t.name, t.type_name, t.shape) for t in info.tensors] == [("w", "F16", (32, 3))]

"""Converting tiny checkpoints the test writes itself, checked against numpy and llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from corral.convert import convert_checkpoint, supported
from corral.errors import ConversionError
from corral.gguf import read_gguf
from tests.convert.tiny import (
    CHAT_TEMPLATE,
    GEMMA,
    GEMMA2,
    GEMMA3,
    LLAMA,
    LLAMA3,
    PHI3,
    QWEN2,
    TinySpec,
    build_checkpoint,
    reference_logits,
)

llama_cpp = pytest.importorskip("llama_cpp")

PROMPT = "Why is the sky blue? The quick brown fox."


def _llama_logits(path: Path, tokens: list[int]) -> np.ndarray:
    model = llama_cpp.Llama(
        str(path),
        n_ctx=128,
        n_batch=128,
        logits_all=True,
        verbose=False,
        n_threads=2,
        n_gpu_layers=0,
    )
    try:
        model.eval(tokens)
        return np.array(model.scores[: len(tokens)], dtype=np.float64)
    finally:
        model.close()


def _tokens(directory: Path, text: str) -> list[int]:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(directory / "tokenizer.json")).encode(text).ids


@pytest.mark.parametrize(
    "spec",
    [LLAMA, LLAMA3, QWEN2, GEMMA, GEMMA2, GEMMA3, PHI3],
    ids=["llama", "llama3-rope", "qwen2", "gemma", "gemma2", "gemma3", "phi3"],
)
def test_logits_match_numpy_reference(tmp_path: Path, spec: TinySpec) -> None:
    weights = build_checkpoint(tmp_path / "ckpt", spec, shards=2)
    out = tmp_path / "model.gguf"
    seen: list[tuple[int, int]] = []
    result = convert_checkpoint(
        tmp_path / "ckpt", out, out_type="F32", progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1][0] == seen[-1][1] == result.tensors
    tokens = _tokens(tmp_path / "ckpt", PROMPT)
    expected = reference_logits(weights, spec, tokens)
    got = _llama_logits(out, tokens)
    assert got.shape == expected.shape
    scale = float(np.abs(expected).max())
    assert scale > 1.0  # the logits are not trivially small
    assert float(np.abs(got - expected).max()) < 2e-3 * scale
    assert (got.argmax(axis=-1) == expected.argmax(axis=-1)).all()


def test_f16_is_close_and_half_the_size(tmp_path: Path) -> None:
    weights = build_checkpoint(tmp_path / "ckpt", LLAMA)
    f32, f16 = tmp_path / "f32.gguf", tmp_path / "f16.gguf"
    convert_checkpoint(tmp_path / "ckpt", f32, out_type="F32")
    convert_checkpoint(tmp_path / "ckpt", f16)
    assert f16.stat().st_size < 0.6 * f32.stat().st_size
    assert read_gguf(f16).file_type == "F16"
    tokens = _tokens(tmp_path / "ckpt", PROMPT)
    expected = reference_logits(weights, LLAMA, tokens)
    got = _llama_logits(f16, tokens)
    assert float(np.abs(got - expected).max()) < 2e-2 * float(np.abs(expected).max())


def test_bf16(tmp_path: Path) -> None:
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    out = tmp_path / "bf16.gguf"
    convert_checkpoint(tmp_path / "ckpt", out, out_type="bf16")
    assert read_gguf(out).file_type == "BF16"
    tokens = _tokens(tmp_path / "ckpt", PROMPT)
    assert np.isfinite(_llama_logits(out, tokens)).all()


def test_tokenizer_and_template_metadata(tmp_path: Path) -> None:
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    out = tmp_path / "model.gguf"
    convert_checkpoint(tmp_path / "ckpt", out, name="tiny")
    info = read_gguf(out)
    assert info.architecture == "llama"
    assert info.chat_template == CHAT_TEMPLATE
    model = llama_cpp.Llama(str(out), n_ctx=64, verbose=False, n_threads=2, vocab_only=True)
    try:
        text = "Llamas are domesticated camelids 123"
        assert model.tokenize(text.encode(), add_bos=False) == _tokens(tmp_path / "ckpt", text)
        assert model.token_eos() == model.tokenize(b"<|im_end|>", add_bos=False, special=True)[0]
        assert model.metadata["tokenizer.ggml.pre"] == "gpt-2"
        assert model.metadata["general.name"] == "tiny"
    finally:
        model.close()


def test_unsupported_architecture_lists_supported(tmp_path: Path) -> None:
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    config["architectures"] = ["MambaForCausalLM"]
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    out = tmp_path / "model.gguf"
    with pytest.raises(ConversionError, match="'MambaForCausalLM' is not supported") as info:
        convert_checkpoint(tmp_path / "ckpt", out)
    for name in supported():
        assert name in str(info.value)
    assert not out.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: (d / "config.json").unlink(), "no config.json"),
        (lambda d: (d / "config.json").write_text("{"), "cannot read config.json"),
        (lambda d: (d / "tokenizer.json").unlink(), "no tokenizer.json"),
        (lambda d: (d / "model.safetensors").unlink(), r"no \.safetensors files"),
        (
            lambda d: (d / "config.json").write_text(
                json.dumps({**json.loads((d / "config.json").read_text()), "hidden_size": "big"})
            ),
            "'hidden_size'",
        ),
    ],
    ids=["no-config", "bad-config", "no-tokenizer", "no-weights", "bad-hparam"],
)
def test_bad_checkpoints(tmp_path: Path, mutate, message: str) -> None:
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    mutate(tmp_path / "ckpt")
    out = tmp_path / "model.gguf"
    with pytest.raises(ConversionError, match=message):
        convert_checkpoint(tmp_path / "ckpt", out)
    assert not out.exists()


def test_bad_output_type(tmp_path: Path) -> None:
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    with pytest.raises(ConversionError, match="cannot convert to 'Q4_K_M'"):
        convert_checkpoint(tmp_path / "ckpt", tmp_path / "x.gguf", out_type="Q4_K_M")


def test_truncated_tensor_data_leaves_nothing(tmp_path: Path) -> None:
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    weights = tmp_path / "ckpt" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    out = tmp_path / "model.gguf"
    with pytest.raises(ConversionError, match="does not fit"):
        convert_checkpoint(tmp_path / "ckpt", out)
    assert not out.exists()


@pytest.mark.parametrize("out_type", ["F16", "BF16", "F32"])
def test_block_wise_writing_gives_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out_type: str
) -> None:
    import corral.convert.convert as convert_module

    build_checkpoint(tmp_path / "ckpt", LLAMA)
    whole, blocks = tmp_path / "whole.gguf", tmp_path / "blocks.gguf"
    convert_checkpoint(tmp_path / "ckpt", whole, out_type=out_type)
    monkeypatch.setattr(convert_module, "_CHUNK_BYTES", 3000)  # a few rows per block
    convert_checkpoint(tmp_path / "ckpt", blocks, out_type=out_type)
    assert whole.read_bytes() == blocks.read_bytes()


def _bert_checkpoint(directory: Path, pooling: dict[str, bool] | None) -> None:
    from tests.convert.tiny import write_safetensors

    rng = np.random.default_rng(0)
    h, f, vocab = 64, 128, 8
    weights = {
        "embeddings.word_embeddings.weight": rng.standard_normal((vocab, h), dtype=np.float32),
        "embeddings.position_embeddings.weight": rng.standard_normal((16, h), dtype=np.float32),
        "embeddings.token_type_embeddings.weight": rng.standard_normal((2, h), dtype=np.float32),
        "embeddings.LayerNorm.weight": np.ones(h, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(h, np.float32),
        "embeddings.position_ids": np.arange(16, dtype=np.float32)[None],
        "pooler.dense.weight": np.zeros((h, h), np.float32),
    }
    directory.mkdir()
    write_safetensors(directory / "model.safetensors", weights)
    config = {
        "architectures": ["BertModel"],
        "hidden_size": h,
        "intermediate_size": f,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "max_position_embeddings": 16,
        "vocab_size": vocab,
        "type_vocab_size": 2,
    }
    (directory / "config.json").write_text(json.dumps(config))
    vocab_map = {
        t: i
        for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "sky", "##s", "blue", "[MASK]"])
    }
    (directory / "tokenizer.json").write_text(
        json.dumps(
            {
                "model": {"type": "WordPiece", "vocab": vocab_map},
                "added_tokens": [
                    {"id": i, "content": t, "special": True}
                    for t, i in vocab_map.items()
                    if t.startswith("[")
                ],
            }
        )
    )
    if pooling is not None:
        (directory / "1_Pooling").mkdir()
        (directory / "1_Pooling" / "config.json").write_text(json.dumps(pooling))


@pytest.mark.parametrize(
    ("pooling", "expected"),
    [(None, 1), ({"pooling_mode_mean_tokens": True}, 1), ({"pooling_mode_cls_token": True}, 2)],
    ids=["default", "mean", "cls"],
)
def test_bert_pooling_and_skipped_tensors(
    tmp_path: Path, pooling: dict[str, bool] | None, expected: int
) -> None:
    _bert_checkpoint(tmp_path / "bert", pooling)
    out = tmp_path / "bert.gguf"
    result = convert_checkpoint(tmp_path / "bert", out)
    assert result.tensors == 5  # position_ids and the pooler are not model weights
    from gguf import GGUFReader

    reader = GGUFReader(out)
    field = reader.fields["bert.pooling_type"]
    assert int(field.parts[field.data[0]][0]) == expected
    assert reader.fields["tokenizer.ggml.model"].contents() == "bert"
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["token_types.weight"] == "F32"  # llama.cpp adds it to F32 activations
    assert kinds["position_embd.weight"] == "F32"
    assert kinds["token_embd.weight"] == "F16"


@pytest.mark.parametrize(
    ("source", "out_type"), [("BF16", "F32"), ("BF16", "BF16"), ("F16", "F16"), ("F16", "F32")]
)
def test_half_precision_checkpoints(tmp_path: Path, source: str, out_type: str) -> None:
    weights = build_checkpoint(tmp_path / "ckpt", LLAMA, dtype=source)
    out = tmp_path / "model.gguf"
    convert_checkpoint(tmp_path / "ckpt", out, out_type=out_type)
    tokens = _tokens(tmp_path / "ckpt", PROMPT)
    expected = reference_logits(weights, LLAMA, tokens)
    got = _llama_logits(out, tokens)
    # The stored weights are exact in the output type, so only compute rounding remains; with
    # BF16 weights llama.cpp also rounds the activations to BF16 for each matrix product.
    tolerance = 3e-2 if out_type == "BF16" else 2e-3
    error = float(np.abs(got - expected).max()) / float(np.abs(expected).max())
    assert error < tolerance

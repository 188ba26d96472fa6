"""`corral create` from a Hugging Face checkpoint directory: convert, store, load, generate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
import pytest

from tests.convert.tiny import CHAT_TEMPLATE, LLAMA, build_checkpoint, build_spm_checkpoint
from tests.integration.conftest import Daemon
from tests.integration.test_cli_e2e import corral

pytestmark = pytest.mark.integration


def _show(daemon: Daemon, name: str) -> dict[str, object]:
    response = httpx.post(f"{daemon.url}/api/show", json={"model": name}, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _tags(daemon: Daemon) -> list[str]:
    response = httpx.get(f"{daemon.url}/api/tags", timeout=30)
    return [m["name"] for m in response.json()["models"]]


def test_create_from_checkpoint_converts_and_generates(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = make_daemon()
    build_checkpoint(tmp_path / "tiny-llama", LLAMA, shards=2)
    (tmp_path / "Modelfile").write_text("FROM ./tiny-llama\nPARAMETER temperature 0\n")
    created = corral(daemon, "create", "tiny", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 0, created.stderr
    progress = created.stderr.decode()
    assert "converting model" in progress
    assert "success" in progress
    show = _show(daemon, "tiny")
    details = show["details"]
    assert isinstance(details, dict)
    assert details["family"] == "llama"
    assert details["quantization_level"] == "F16"
    info = show["model_info"]
    assert isinstance(info, dict)
    assert info["llama.block_count"] == LLAMA.layers
    assert info["llama.attention.head_count_kv"] == LLAMA.kv_heads

    answer = ollama.Client(host=daemon.url).generate(
        model="tiny", prompt="Why is the sky blue?", options={"num_predict": 8}, raw=True
    )
    assert answer.done
    assert answer.eval_count and answer.eval_count > 0
    # the scratch directory is cleaned up
    assert not any((daemon.home / "cache" / "convert").iterdir())


def test_create_streams_tensor_progress_and_honours_f32(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = make_daemon()
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    client = ollama.Client(host=daemon.url)
    files = {}
    for path in sorted((tmp_path / "ckpt").iterdir()):
        files[path.name] = client.create_blob(path)
    events = list(client.create(model="tiny32", files=files, quantize="f32", stream=True))
    statuses = [e.status for e in events]
    assert statuses[-1] == "success"
    steps = [e for e in events if e.status == "converting model" and e.total]
    assert steps
    assert steps[-1].completed == steps[-1].total
    assert [e.completed for e in steps] == sorted(e.completed for e in steps)
    assert _show(daemon, "tiny32")["details"]["quantization_level"] == "F32"  # type: ignore[index]


def test_unsupported_architecture_fails_cleanly(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = make_daemon()
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    config["architectures"] = ["FalconForCausalLM"]
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    (tmp_path / "Modelfile").write_text("FROM ./ckpt\n")
    created = corral(daemon, "create", "falcon", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 1
    message = created.stderr.decode()
    assert "'FalconForCausalLM' is not supported" in message
    assert "LlamaForCausalLM" in message
    assert "Traceback" not in message
    assert "falcon:latest" not in _tags(daemon)
    assert not any((daemon.home / "cache" / "convert").iterdir())


def test_create_from_a_sentencepiece_only_checkpoint(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    pytest.importorskip("sentencepiece")
    daemon = make_daemon()
    _, processor = build_spm_checkpoint(
        tmp_path / "spm", {"chat_template": CHAT_TEMPLATE, "add_bos_token": True}
    )
    assert not (tmp_path / "spm" / "tokenizer.json").exists()
    (tmp_path / "Modelfile").write_text("FROM ./spm\nPARAMETER temperature 0\n")
    created = corral(daemon, "create", "spm", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 0, created.stderr
    info = _show(daemon, "spm")["model_info"]
    assert isinstance(info, dict)
    assert info["tokenizer.ggml.model"] == "llama"
    client = ollama.Client(host=daemon.url)
    answer = client.generate(
        model="spm", prompt="Why is the sky blue?", options={"num_predict": 4}, raw=True
    )
    assert answer.done
    assert answer.eval_count and answer.eval_count > 0
    # llama.cpp counts the prompt's tokens as sentencepiece splits it, plus BOS
    assert answer.prompt_eval_count == 1 + len(processor.encode("Why is the sky blue?"))


def test_bad_tokenizer_model_fails_cleanly(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    pytest.importorskip("sentencepiece")
    daemon = make_daemon()
    build_spm_checkpoint(tmp_path / "spm")
    model = tmp_path / "spm" / "tokenizer.model"
    model.write_bytes(model.read_bytes()[:-3])
    (tmp_path / "Modelfile").write_text("FROM ./spm\n")
    created = corral(daemon, "create", "broken", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 1
    message = created.stderr.decode()
    assert "tokenizer.model is not a SentencePiece model" in message
    assert "Traceback" not in message
    assert "broken:latest" not in _tags(daemon)
    assert not any((daemon.home / "cache" / "convert").iterdir())


def test_missing_blob_and_bad_quantize(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    daemon = make_daemon()
    missing = "sha256:" + "0" * 64
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={"model": "x", "files": {"model.safetensors": missing, "config.json": missing}},
        timeout=30,
    )
    assert response.status_code == 400
    assert "not found" in response.json()["error"]
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={"model": "x", "files": {"model.safetensors": missing}, "quantize": "Q3_BOGUS"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "Q3_BOGUS" in response.json()["error"]


def test_create_with_a_peft_lora_adapter(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    from tests.convert.test_lora import build_adapter

    daemon = make_daemon()
    weights = build_checkpoint(tmp_path / "base", LLAMA)
    build_adapter(tmp_path / "lora", weights, LLAMA)
    (tmp_path / "Modelfile").write_text("FROM ./base\nADAPTER ./lora\n")
    created = corral(daemon, "create", "tuned", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 0, created.stderr
    assert "converting adapter" in created.stderr.decode()
    manifest = json.loads(
        (
            daemon.models / "manifests" / "registry.ollama.ai" / "library" / "tuned" / "latest"
        ).read_text()
    )
    media = [layer["mediaType"] for layer in manifest["layers"]]
    assert media[:2] == [
        "application/vnd.ollama.image.model",
        "application/vnd.ollama.image.adapter",
    ]
    (tmp_path / "Plain").write_text("FROM ./base\n")
    assert corral(daemon, "create", "plain", "-f", str(tmp_path / "Plain")).returncode == 0
    client = ollama.Client(host=daemon.url)
    options = {"num_predict": 8, "temperature": 0}
    tuned = client.generate(model="tuned", prompt="Why is the sky", options=options, raw=True)
    plain = client.generate(model="plain", prompt="Why is the sky", options=options, raw=True)
    assert tuned.done and plain.done
    assert tuned.response != plain.response  # the adapter is applied by the runner


def test_adapter_for_a_non_llama_base_is_refused(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    from tests.convert.test_lora import build_adapter

    daemon = make_daemon()
    weights = build_checkpoint(tmp_path / "base", LLAMA)
    build_adapter(tmp_path / "lora", weights, LLAMA)
    from corral.convert import convert_checkpoint
    from tests.convert.test_convert import _bert_checkpoint

    _bert_checkpoint(tmp_path / "bert", None)
    convert_checkpoint(tmp_path / "bert", tmp_path / "bert.gguf")
    (tmp_path / "Modelfile").write_text("FROM ./bert.gguf\nADAPTER ./lora\n")
    created = corral(daemon, "create", "bad", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 1
    assert "supports the Llama family" in created.stderr.decode()

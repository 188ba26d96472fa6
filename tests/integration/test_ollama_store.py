"""A models directory laid out exactly as Ollama writes one lists, shows and runs."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
import pytest

from tests.integration.conftest import Daemon

pytestmark = pytest.mark.integration

CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)


def _blob(models: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (models / "blobs" / f"sha256-{digest}").write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _ollama_store(models: Path, gguf: Path) -> None:
    """Write blobs and manifests the way Ollama's `pull` leaves them."""
    (models / "blobs").mkdir(parents=True)
    model_hex = hashlib.sha256(gguf.read_bytes()).hexdigest()
    os.link(gguf, models / "blobs" / f"sha256-{model_hex}")
    model_layer = {
        "mediaType": "application/vnd.ollama.image.model",
        "digest": f"sha256:{model_hex}",
        "size": gguf.stat().st_size,
    }
    template = {
        "mediaType": "application/vnd.ollama.image.template",
        **_blob(models, CHATML.encode()),
    }
    params = {
        "mediaType": "application/vnd.ollama.image.params",
        **_blob(models, json.dumps({"stop": ["<|im_start|>", "<|im_end|>"]}).encode()),
    }
    system = {
        "mediaType": "application/vnd.ollama.image.system",
        **_blob(models, b"You are a concise assistant."),
    }
    layers = [model_layer, template, params]
    config = json.dumps(
        {
            "model_format": "gguf",
            "model_family": "llama",
            "model_families": ["llama"],
            "model_type": "134.52M",
            "file_type": "Q4_1",
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        }
    ).encode()
    for path, layer_list in [
        (("registry.ollama.ai", "library", "smol", "latest"), layers),
        (("registry.ollama.ai", "someone", "tiny", "v1"), [*layers, system]),
        (("registry.ollama.ai", "library", "jinja-only", "latest"), [model_layer]),
    ]:
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                **_blob(models, config),
            },
            "layers": layer_list,
        }
        target = models.joinpath("manifests", *path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(manifest))


def test_ollama_written_store_lists_shows_and_runs(
    tmp_path: Path, smollm2_gguf: Path, make_daemon: Callable[..., Daemon]
) -> None:
    models = tmp_path / "ollama-models"
    _ollama_store(models, smollm2_gguf)
    daemon = make_daemon(models)
    client = ollama.Client(host=daemon.url)

    names = sorted(m.model or "" for m in client.list().models)
    assert names == ["jinja-only:latest", "smol:latest", "someone/tiny:v1"]

    shown = client.show("SMOL")  # names are case-insensitive
    assert shown.template == CHATML
    assert shown.details and shown.details.family == "llama"
    assert shown.capabilities and "completion" in shown.capabilities
    assert shown.modelinfo and shown.modelinfo["general.architecture"] == "llama"
    assert "PARAMETER stop <|im_end|>" in (shown.modelfile or "")

    answer = client.chat(
        model="someone/tiny:v1",
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        options={"temperature": 0, "num_predict": 16},
    )
    assert "paris" in (answer.message.content or "").lower()
    assert "<|im_end|>" not in (answer.message.content or "")

    # The system layer is part of the rendered prompt.
    debug = httpx.post(
        f"{daemon.url}/api/chat",
        json={
            "model": "someone/tiny:v1",
            "messages": [{"role": "user", "content": "Hi"}],
            "_debug_render_only": True,
            "stream": False,
        },
        timeout=30,
    ).json()
    assert debug["_debug_info"]["rendered_template"].startswith(
        "<|im_start|>system\nYou are a concise assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
    )


def test_model_without_template_layer_uses_the_gguf_jinja_template(
    tmp_path: Path, smollm2_gguf: Path, make_daemon: Callable[..., Daemon]
) -> None:
    models = tmp_path / "ollama-models"
    _ollama_store(models, smollm2_gguf)
    daemon = make_daemon(models)
    body = {
        "model": "jinja-only",
        "messages": [{"role": "user", "content": "Hi"}],
        "_debug_render_only": True,
        "stream": False,
    }
    rendered = httpx.post(f"{daemon.url}/api/chat", json=body, timeout=30).json()
    prompt = rendered["_debug_info"]["rendered_template"]
    # SmolLM2's own Jinja template adds its default system prompt.
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    shown = httpx.post(f"{daemon.url}/api/show", json={"model": "jinja-only"}, timeout=30).json()
    assert "{%" in shown["template"]  # the GGUF's Jinja template is what show reports

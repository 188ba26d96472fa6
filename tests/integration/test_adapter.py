"""A Modelfile `ADAPTER` end to end: stored as its own layer, shown, and applied by the runner."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.lora_fixture import write_lora_adapter

pytestmark = pytest.mark.integration

MEDIA_ADAPTER = "application/vnd.ollama.image.adapter"
MEDIA_MODEL = "application/vnd.ollama.image.model"
FRANCE = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"

MakeDaemon = Callable[..., Daemon]


@pytest.fixture
def own_daemon(
    make_daemon: MakeDaemon, seeded_models: tuple[Path, list[dict[str, object]]], tmp_path: Path
) -> Daemon:
    """A daemon on a private copy of the seeded store (blobs hard-linked, so it costs nothing)."""
    models = tmp_path / "models"
    shutil.copytree(seeded_models[0], models, copy_function=os.link)
    return make_daemon(models)


def corral_create(daemon: Daemon, name: str, modelfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral", "create", name, "-f", str(modelfile)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=daemon.env(),
        timeout=300,
    )


def manifest(daemon: Daemon, name: str) -> dict[str, Any]:
    model, _, tag = name.partition(":")
    path = (
        daemon.models / "manifests" / "registry.ollama.ai" / "library" / model / (tag or "latest")
    )
    return dict(json.loads(path.read_text()))


def layers(daemon: Daemon, name: str, media_type: str) -> list[dict[str, Any]]:
    return [x for x in manifest(daemon, name)["layers"] if x["mediaType"] == media_type]


def generate(daemon: Daemon, model: str, prompt: str, *, raw: bool) -> str:
    response = httpx.post(
        f"{daemon.url}/api/generate",
        json={
            "model": model,
            "prompt": prompt,
            "raw": raw,
            "stream": False,
            "options": {"temperature": 0, "num_predict": 24},
        },
        timeout=300,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["response"])


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_adapter_is_its_own_layer_and_changes_the_answer(
    own_daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    daemon = own_daemon
    adapter = write_lora_adapter(smollm2_gguf, tmp_path / "lora.gguf")
    (tmp_path / "Modelfile").write_text(f"FROM {smollm2_gguf}\nADAPTER ./lora.gguf\n")
    (tmp_path / "Plainfile").write_text(f"FROM {smollm2_gguf}\n")

    created = corral_create(daemon, "tuned", tmp_path / "Modelfile")
    assert created.returncode == 0, created.stderr
    assert "success" in created.stdout + created.stderr
    assert corral_create(daemon, "plain", tmp_path / "Plainfile").returncode == 0

    # One adapter layer holding exactly the adapter's bytes, beside the unchanged weights.
    (adapter_layer,) = layers(daemon, "tuned", MEDIA_ADAPTER)
    assert adapter_layer["digest"] == sha256(adapter)
    assert adapter_layer["size"] == adapter.stat().st_size
    blob = daemon.models / "blobs" / adapter_layer["digest"].replace(":", "-")
    assert blob.read_bytes() == adapter.read_bytes()
    # The weights are the catalog model's very blob: the adapter did not alter them.
    assert layers(daemon, "tuned", MEDIA_MODEL) == layers(daemon, CATALOG_MODEL, MEDIA_MODEL)
    assert layers(daemon, "plain", MEDIA_ADAPTER) == []

    shown = httpx.post(f"{daemon.url}/api/show", json={"model": "tuned"}, timeout=30)
    assert shown.status_code == 200, shown.text
    assert f"ADAPTER {blob}" in shown.json()["modelfile"].splitlines()

    # Same weights and template, greedy decoding: only the adapter can make them differ.
    catalog = generate(daemon, CATALOG_MODEL, FRANCE, raw=True)
    assert "Paris" in catalog
    assert generate(daemon, "plain", FRANCE, raw=True) == catalog
    tuned = generate(daemon, "tuned", FRANCE, raw=True)
    assert tuned.strip()
    assert tuned != catalog
    question = "What is the capital of France?"
    assert generate(daemon, "tuned", question, raw=False) != generate(
        daemon, "plain", question, raw=False
    )


def test_model_built_from_an_adapted_model_keeps_its_adapter(
    own_daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    daemon = own_daemon
    adapter = write_lora_adapter(smollm2_gguf, tmp_path / "lora.gguf")
    (tmp_path / "Modelfile").write_text(f"FROM {CATALOG_MODEL}\nADAPTER {adapter}\n")
    created = corral_create(daemon, "tuned", tmp_path / "Modelfile")
    assert created.returncode == 0, created.stderr
    (tmp_path / "Derived").write_text('FROM tuned\nSYSTEM """Be brief."""\n')
    derived = corral_create(daemon, "derived", tmp_path / "Derived")
    assert derived.returncode == 0, derived.stderr

    (layer,) = layers(daemon, "derived", MEDIA_ADAPTER)
    assert layer["digest"] == sha256(adapter)
    assert layers(daemon, "tuned", MEDIA_ADAPTER) == [layer]
    tuned = generate(daemon, "tuned", FRANCE, raw=True)
    assert generate(daemon, "derived", FRANCE, raw=True) == tuned
    assert tuned != generate(daemon, CATALOG_MODEL, FRANCE, raw=True)


def test_adapter_that_is_not_gguf_is_refused(
    own_daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    daemon = own_daemon
    (tmp_path / "notes.gguf").write_text("these are not LoRA weights\n")
    (tmp_path / "Modelfile").write_text(f"FROM {smollm2_gguf}\nADAPTER ./notes.gguf\n")
    created = corral_create(daemon, "broken", tmp_path / "Modelfile")
    assert created.returncode == 1
    assert "notes.gguf" in created.stderr
    assert "not in GGUF format" in created.stderr
    assert not (daemon.models / "manifests" / "registry.ollama.ai" / "library" / "broken").exists()


def test_adapter_for_another_architecture_fails_when_loaded(
    own_daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    daemon = own_daemon
    write_lora_adapter(smollm2_gguf, tmp_path / "qwen.gguf", architecture="qwen2")
    (tmp_path / "Modelfile").write_text(f"FROM {smollm2_gguf}\nADAPTER ./qwen.gguf\n")
    created = corral_create(daemon, "mismatched", tmp_path / "Modelfile")
    assert created.returncode == 0, created.stderr
    response = httpx.post(
        f"{daemon.url}/api/generate",
        json={"model": "mismatched", "prompt": "hi", "stream": False},
        timeout=300,
    )
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert "LoRA adapter" in error
    assert "arch mismatch" in error
    # The daemon survives and still serves the base model.
    assert "Paris" in generate(daemon, CATALOG_MODEL, FRANCE, raw=True)

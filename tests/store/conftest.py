"""Store test fixtures: an empty store, and a writer that lays models out as Ollama does."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corral.store import Store

OLLAMA_TEMPLATE = (
    "{{ if .System }}<|system|>{{ .System }}{{ end }}<|user|>{{ .Prompt }}<|assistant|>"
)


@dataclass
class WrittenModel:
    """What `ollama_model` wrote: the manifest path and bytes, and every blob's digest."""

    manifest_path: Path
    manifest_bytes: bytes
    digests: dict[str, str]  # role ("config", "model", "template", ...) -> "sha256:<hex>"
    sizes: dict[str, int]


def _write_blob(root: Path, data: bytes) -> tuple[str, int]:
    hexdigest = hashlib.sha256(data).hexdigest()
    blobs = root / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    # Ollama's own files: 0644-ish, named sha256-<hex>, written without our helpers.
    (blobs / f"sha256-{hexdigest}").write_bytes(data)
    return f"sha256:{hexdigest}", len(data)


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def store(models_root: Path) -> Store:
    return Store(models_root)


OllamaWriter = Callable[..., WrittenModel]


@pytest.fixture
def ollama_model(models_root: Path) -> OllamaWriter:
    """Write a model exactly as Ollama lays one out, bypassing corral's store code."""

    def write(
        host: str = "registry.ollama.ai",
        namespace: str = "library",
        model: str = "smol",
        tag: str = "latest",
        *,
        weights: bytes = b"GGUF\x03\x00\x00\x00 fake weights",
        template: str | None = OLLAMA_TEMPLATE,
        system: str | None = None,
        params: dict[str, Any] | None = None,
        licenses: tuple[str, ...] = (),
        extra_layers: list[dict[str, Any]] | None = None,
        pretty: bool = True,
    ) -> WrittenModel:
        digests: dict[str, str] = {}
        sizes: dict[str, int] = {}
        layers: list[dict[str, Any]] = []

        def add(role: str, media: str, data: bytes, **extra: Any) -> None:
            digest, size = _write_blob(models_root, data)
            digests[role], sizes[role] = digest, size
            layers.append({"mediaType": media, "digest": digest, "size": size, **extra})

        add("model", "application/vnd.ollama.image.model", weights)
        if template is not None:
            add("template", "application/vnd.ollama.image.template", template.encode())
        if system is not None:
            add("system", "application/vnd.ollama.image.system", system.encode())
        for index, text in enumerate(licenses):
            add(f"license{index}", "application/vnd.ollama.image.license", text.encode())
        if params is not None:
            add("params", "application/vnd.ollama.image.params", json.dumps(params).encode())
        layers.extend(extra_layers or [])
        config = {
            "model_format": "gguf",
            "model_family": "llama",
            "model_families": ["llama"],
            "model_type": "134.52M",
            "file_type": "Q4_1",
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        }
        config_digest, config_size = _write_blob(models_root, json.dumps(config).encode())
        digests["config"], sizes["config"] = config_digest, config_size
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": layers,
        }
        data = json.dumps(manifest, indent=2 if pretty else None).encode()
        path = models_root / "manifests" / host / namespace / model / tag
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return WrittenModel(path, data, digests, sizes)

    return write

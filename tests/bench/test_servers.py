"""The benchmark's process helpers that need no server: CPU accounting and blob lookup."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.servers import cpu_seconds, model_blob


def test_cpu_seconds_grows_while_this_process_works() -> None:
    before = cpu_seconds([os.getpid()])
    deadline = before + 0.05
    while cpu_seconds([os.getpid()]) < deadline:
        sum(range(10_000))
    assert cpu_seconds([os.getpid()]) > before


def test_cpu_seconds_of_a_process_that_is_gone_is_zero() -> None:
    assert cpu_seconds([2**22 + 12345]) == 0.0
    assert cpu_seconds([]) == 0.0


def _manifest(models: Path, layers: list[dict[str, str]]) -> None:
    path = models / "manifests" / "registry.ollama.ai" / "library" / "smollm2" / "135m"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schemaVersion": 2, "layers": layers}))


def test_model_blob_is_the_model_layer_of_the_manifest(tmp_path: Path) -> None:
    _manifest(
        tmp_path,
        [
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "a" * 64},
            {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + "b" * 64},
        ],
    )
    assert model_blob(tmp_path, "smollm2:135m") == tmp_path / "blobs" / ("sha256-" + "b" * 64)


def test_model_blob_of_a_manifest_without_weights_is_an_error(tmp_path: Path) -> None:
    _manifest(tmp_path, [{"mediaType": "application/vnd.ollama.image.template", "digest": "x"}])
    with pytest.raises(RuntimeError, match="no model layer"):
        model_blob(tmp_path, "smollm2:135m")

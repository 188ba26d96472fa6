"""The catalog's all-minilm:l6-v2: pulled as safetensors, converted, embeddings as the reference."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.integration.conftest import Daemon, free_port, pull

pytestmark = pytest.mark.integration

MODEL = "all-minilm:l6-v2"
REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "minilm_reference.json"


def _reference() -> dict[str, object]:
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} is not available")
    return dict(json.loads(REFERENCE.read_text()))


@pytest.fixture(scope="module")
def minilm(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Daemon, list[dict[str, object]]]]:
    from tests.integration.conftest import start_daemon

    root = tmp_path_factory.mktemp("minilm")
    daemon = start_daemon(root / "home", root / "models")
    try:
        events = pull(daemon, MODEL)
        yield daemon, events
    finally:
        daemon.stop()


def _blob(daemon: Daemon) -> Path:
    manifest = json.loads(
        (
            daemon.models / "manifests" / "registry.ollama.ai" / "library" / "all-minilm" / "l6-v2"
        ).read_text()
    )
    (layer,) = [x for x in manifest["layers"] if x["mediaType"].endswith(".model")]
    return daemon.models / "blobs" / layer["digest"].replace(":", "-")


@pytest.fixture(scope="module")
def runner(minilm: tuple[Daemon, list[dict[str, object]]]) -> Iterator[str]:
    daemon, _ = minilm
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "corral.runner",
            "--model",
            str(_blob(daemon)),
            "--port",
            str(port),
            "--embedding",
            "--ctx-size",
            "512",
            "--threads",
            "2",
            "--gpu-layers",
            "0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(20)


def _cosines(vectors: list[list[float]], cases: list[dict[str, object]]) -> list[float]:
    out = []
    for vector, case in zip(vectors, cases, strict=True):
        a = np.asarray(vector, dtype=np.float64)
        b = np.asarray(case["embedding"], dtype=np.float64)
        out.append(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    return out


def test_pull_converts_and_stores_an_embedding_model(
    minilm: tuple[Daemon, list[dict[str, object]]],
) -> None:
    daemon, events = minilm
    statuses = [e.get("status") for e in events]
    assert "verifying sha256 digest" in statuses
    assert "converting model" in statuses
    assert statuses[-1] == "success"
    show = httpx.post(f"{daemon.url}/api/show", json={"model": MODEL}, timeout=30).json()
    assert show["capabilities"] == ["embedding"]
    assert show["details"]["family"] == "bert"
    assert show["details"]["quantization_level"] == "F16"
    assert show["model_info"]["bert.pooling_type"] == 1  # mean
    assert not any((daemon.home / "cache" / "catalog").iterdir())


def test_runner_embeddings_match_reference(runner: str) -> None:
    reference = _reference()
    cases = reference["cases"]
    assert isinstance(cases, list)
    response = httpx.post(
        f"{runner}/embedding", json={"content": [c["text"] for c in cases]}, timeout=120
    )
    response.raise_for_status()
    vectors = response.json()["embeddings"]
    assert all(len(v) == 384 for v in vectors)
    cosines = _cosines(vectors, cases)
    assert min(cosines) >= 0.999, cosines
    # distinct texts stay distinct: the check would catch a constant vector
    assert _cosines([vectors[0]], [cases[1]])[0] < 0.99


def test_api_embed_matches_reference(minilm: tuple[Daemon, list[dict[str, object]]]) -> None:
    daemon, _ = minilm
    reference = _reference()
    cases = reference["cases"]
    assert isinstance(cases, list)
    response = httpx.post(
        f"{daemon.url}/api/embed",
        json={"model": MODEL, "input": [c["text"] for c in cases]},
        timeout=180,
    )
    if response.status_code == 404 and "model" not in response.text:
        pytest.skip("this daemon has no /api/embed route yet")
    response.raise_for_status()
    cosines = _cosines(response.json()["embeddings"], cases)
    assert min(cosines) >= 0.999

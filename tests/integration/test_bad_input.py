"""Bad requests get one clear sentence, the right status, and touch nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/api/generate", b"", 400, "missing request body"),
        ("/api/chat", b"{not json", 400, "invalid JSON"),
        ("/api/chat", b"[1, 2]", 400, "must be a JSON object"),
        ("/api/chat", b'{"model": "smollm2:135m", "stream": "yes"}', 400, '"stream"'),
        ("/api/generate", b'{"model": 42}', 400, '"model"'),
        ("/api/generate", b'{"model": "smollm2:135m", "prompt": ["a"]}', 400, '"prompt"'),
        ("/api/chat", b'{"model": "smollm2:135m", "messages": "hi"}', 400, '"messages"'),
        (
            "/api/chat",
            b'{"model": "smollm2:135m", "messages": [{"role": 1}]}',
            400,
            '"messages[0].role"',
        ),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "prompt": "x", "keep_alive": "3600"}',
            400,
            "keep_alive",
        ),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "prompt": "x", "keep_alive": true}',
            400,
            "keep_alive",
        ),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "prompt": "x", "options": {"temperature": "hot"}}',
            400,
            '"temperature"',
        ),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "prompt": "x", "options": {"stop": "x"}}',
            400,
            '"stop"',
        ),
        ("/api/chat", b'{"messages": []}', 400, "model is required"),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "prompt": "x", "think": "very"}',
            400,
            "invalid think value",
        ),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "raw": true, "system": "s", "prompt": "x"}',
            400,
            "raw mode does not support",
        ),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "top_logprobs": 21}',
            400,
            "top_logprobs must be between 0 and 20",
        ),
        ("/api/show", b'{"model": "nope"}', 404, "not found"),
        ("/api/delete", b'{"model": "nope:latest"}', 404, "not found"),
        ("/api/copy", b'{"source": "nope", "destination": "x"}', 404, "not found"),
        ("/api/create", b'{"model": "x"}', 400, "neither 'from' or 'files' was specified"),
    ],
)
def test_bad_requests(daemon: Daemon, path: str, body: bytes, status: int, needle: str) -> None:
    method = "DELETE" if path == "/api/delete" else "POST"
    response = httpx.request(method, f"{daemon.url}{path}", content=body, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error
    assert "\n" not in error


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "a/b/c/d/e",
        "bad\x00name",
        "x" * 81,
        "ns.with.dots/m:t",
        "/abs",
        "m:",
        "ümlaut",
    ],
)
def test_invalid_names_touch_nothing(daemon: Daemon, name: str) -> None:
    before = _tree(daemon.models)
    for path, body in [
        ("/api/show", {"model": name}),
        ("/api/copy", {"source": CATALOG_MODEL, "destination": name}),
        ("/api/create", {"model": name, "from": CATALOG_MODEL}),
        ("/api/pull", {"model": name}),
    ]:
        response = httpx.post(f"{daemon.url}{path}", json=body, timeout=30)
        assert response.status_code in {400, 404}, (path, response.text)
        assert "invalid" in response.json()["error"] or "not found" in response.json()["error"]
    assert _tree(daemon.models) == before


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "md5:" + "a" * 64,
        "sha256:" + "a" * 64 + "x",
    ],
)
def test_invalid_digests_are_rejected(daemon: Daemon, digest: str) -> None:
    before = _tree(daemon.models)
    head = httpx.head(f"{daemon.url}/api/blobs/{digest}", timeout=10)
    assert head.status_code == 400
    post = httpx.post(f"{daemon.url}/api/blobs/{digest}", content=b"data", timeout=10)
    assert post.status_code == 400
    assert "digest" in post.json()["error"]
    assert _tree(daemon.models) == before


def test_blob_upload_checks_digest(daemon: Daemon) -> None:
    data = b"corral blob upload test"
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    assert httpx.head(f"{daemon.url}/api/blobs/{wrong}", timeout=10).status_code == 404
    before = _tree(daemon.models)
    response = httpx.post(f"{daemon.url}/api/blobs/{wrong}", content=data, timeout=10)
    assert response.status_code == 400
    assert "digest mismatch" in response.json()["error"]
    assert _tree(daemon.models) == before
    assert httpx.post(f"{daemon.url}/api/blobs/{good}", content=data, timeout=10).status_code == 201
    assert httpx.head(f"{daemon.url}/api/blobs/{good}", timeout=10).status_code == 200
    assert httpx.post(f"{daemon.url}/api/blobs/{good}", content=data, timeout=10).status_code == 200


def test_corrupt_gguf_is_refused_and_daemon_keeps_serving(daemon: Daemon) -> None:
    data = b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    httpx.post(f"{daemon.url}/api/blobs/{digest}", content=data, timeout=10)
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={"model": "corrupt-model", "files": {"model.gguf": digest}, "stream": False},
        timeout=30,
    )
    assert response.status_code == 400
    assert "GGUF" in response.json()["error"]
    assert httpx.get(f"{daemon.url}/api/tags", timeout=10).status_code == 200
    names = [m["name"] for m in httpx.get(f"{daemon.url}/api/tags", timeout=10).json()["models"]]
    assert "corrupt-model:latest" not in names


def test_create_with_traversal_file_name_is_refused(daemon: Daemon) -> None:
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={"model": "trav", "files": {"../model.gguf": "sha256:" + "0" * 64}, "stream": False},
        timeout=30,
    )
    assert response.status_code == 400
    assert "relative" in response.json()["error"]


def test_wrong_method_and_unknown_path(daemon: Daemon) -> None:
    assert httpx.get(f"{daemon.url}/api/chat", timeout=10).status_code == 405
    assert httpx.get(f"{daemon.url}/api/nothing-here", timeout=10).status_code == 404


def test_model_llama_cpp_cannot_load_fails_with_the_runners_reason(daemon: Daemon) -> None:
    from corral.gguf.writer import TensorSpec, build_gguf

    data = build_gguf(
        {"general.architecture": "no-such-arch", "general.name": "broken"},
        [TensorSpec("token_embd.weight", 0, (8, 4))],
    )
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.post(f"{daemon.url}/api/blobs/{digest}", content=data, timeout=10).is_success
    created = httpx.post(
        f"{daemon.url}/api/create",
        json={"model": "unloadable", "files": {"model.gguf": digest}, "stream": False},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    response = httpx.post(
        f"{daemon.url}/api/generate",
        json={"model": "unloadable", "prompt": "hi", "stream": False},
        timeout=120,
    )
    assert response.status_code == 500
    error = response.json()["error"]
    assert error.startswith("runner failed to load:")
    assert "no-such-arch" in error
    # The daemon goes on serving other models.
    ok = httpx.post(
        f"{daemon.url}/api/generate",
        json={
            "model": CATALOG_MODEL,
            "prompt": "hi",
            "stream": False,
            "options": {"num_predict": 2},
        },
        timeout=120,
    )
    assert ok.status_code == 200 and ok.json()["done"] is True

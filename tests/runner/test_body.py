"""A completion's body on the wire: written by the worker thread, handed back to the loop when
the reader falls behind, and whole and in order either way.

The runner here listens on a Unix socket, as it does for the daemon (real SmolLM2).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runner.test_server import REPO_ROOT, STORY
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

# Every token with its 20 most likely alternatives: lines of about a kilobyte, so that a
# reader who stops reading fills the socket's buffer (about 200 KB) within a few hundred.
WIDE = {"prompt": STORY, "temperature": 0, "n_predict": 600, "logprobs": True, "top_logprobs": 20}


class UnixRunner:
    """`python -m corral.runner --socket PATH` and an HTTP client for it."""

    def __init__(self, model: Path, path: Path) -> None:
        self.path = path
        argv = ["--model", str(model), "--socket", str(path), "--ctx-size", "1024"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "corral.runner", *argv, "--parent-pid", str(os.getpid())],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(
            base_url="http://runner", transport=httpx.HTTPTransport(uds=str(path)), timeout=120
        )

    def health(self) -> dict[str, Any]:
        return dict(self.client.get("/health").json())

    def ready(self) -> bool:
        try:
            return self.client.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def complete(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        with self.client.stream("POST", "/completion", json=body) as response:
            assert response.status_code == 200
            return _lines(response.read())

    def request(self, head: bytes, body: dict[str, Any]) -> socket.socket:
        """Send a raw HTTP request; the connected socket, for the caller to read."""
        data = json.dumps(body).encode()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(120)
        sock.connect(str(self.path))
        sock.sendall(
            head + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
        )
        return sock

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(20)


@pytest.fixture(scope="module")
def runner(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnixRunner]:
    r = UnixRunner(smollm2_gguf, tmp_path_factory.mktemp("runner") / "socket")
    try:
        assert wait_for(r.ready, seconds=120), "the runner did not become ready"
        yield r
    finally:
        r.stop()


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _read_to_close(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _dechunk(data: bytes) -> bytes:
    """An HTTP/1.1 chunked body, decoded (it must end with the last, empty chunk)."""
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2 :]


def test_the_worker_writes_the_body_once_the_headers_are_out(runner: UnixRunner) -> None:
    before = runner.health()["chunks_written_by_worker"]
    lines = runner.complete({"prompt": STORY, "temperature": 0, "n_predict": 40})
    written = runner.health()["chunks_written_by_worker"] - before
    # The first piece goes out with the headers, through the loop; the worker writes the
    # other pieces and the final line (a step's pieces may share one write, never more).
    assert lines[-1]["eval_count"] == 40
    assert len(lines) - 2 <= written <= len(lines) - 1


def test_a_reader_that_falls_behind_still_gets_every_line_in_order(runner: UnixRunner) -> None:
    expected = runner.complete(WIDE)
    assert expected[-1]["done"] and expected[-1]["eval_count"] == 600
    before = runner.health()["bodies_handed_back"]
    sock = runner.request(b"POST /completion HTTP/1.1\r\nHost: runner\r\nConnection: close", WIDE)
    with sock:
        # Read nothing until the runner has found the socket full and given the body back.
        assert wait_for(lambda: runner.health()["bodies_handed_back"] > before, seconds=120)
        head, _, payload = _read_to_close(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
    received = _lines(_dechunk(payload))
    # Greedy decoding gives the same text; the logprobs' last digits may differ, since the
    # second request reads its prompt from the cache.
    assert [line.get("content") for line in received] == [line.get("content") for line in expected]
    assert received[-1]["eval_count"] == 600


def test_an_http_1_0_reader_gets_the_body_unchunked_until_the_connection_closes(
    runner: UnixRunner,
) -> None:
    body = {"prompt": STORY, "temperature": 0, "n_predict": 20}
    with runner.request(b"POST /completion HTTP/1.0", body) as sock:
        head, _, payload = _read_to_close(sock).partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
    assert b"transfer-encoding" not in head.lower()
    lines = _lines(payload)
    assert lines[-1]["done"] and lines[-1]["eval_count"] == 20
    assert lines[:-1] == runner.complete(body)[:-1]

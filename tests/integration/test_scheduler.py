"""The scheduler with real runners: queue overflow, eviction, shared loads, load timeout, ps."""

from __future__ import annotations

import hashlib
import json
import socket
import stat
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

BUSY = "server busy, please try again.  maximum pending requests exceeded"
SMALL = {"num_ctx": 512}


def _ps(daemon: Daemon) -> list[dict[str, object]]:
    return list(httpx.get(f"{daemon.url}/api/ps", timeout=10).json()["models"])


def _distinct_gguf(source: Path, target: Path, tag: str) -> Path:
    """A copy of `source` whose general.name string is rewritten in place (same length).

    The file stays a valid GGUF with the same layout, but its bytes (and so its blob
    digest) differ, so the daemon treats it as another model.
    """
    data = bytearray(source.read_bytes())
    key = b"general.name"
    at = data.index(len(key).to_bytes(8, "little") + key) + 8 + len(key)
    assert int.from_bytes(data[at : at + 4], "little") == 8  # a string value
    length = int.from_bytes(data[at + 4 : at + 12], "little")
    start = at + 12
    data[start : start + length] = tag.encode().ljust(length, b"-")[:length]
    target.write_bytes(bytes(data))
    return target


def _create_from_file(daemon: Daemon, path: Path, name: str) -> None:
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    with path.open("rb") as body:
        upload = httpx.post(f"{daemon.url}/api/blobs/{digest}", content=body, timeout=120)
    assert upload.status_code in (200, 201), upload.text
    created = httpx.post(
        f"{daemon.url}/api/create",
        json={"model": name, "files": {"model.gguf": digest}, "stream": False},
        timeout=120,
    )
    assert created.status_code == 200, created.text


def test_queue_overflow_returns_503_and_waiters_still_finish(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0], CORRAL_MAX_QUEUE="2", CORRAL_NUM_PARALLEL="1")
    client = ollama.Client(host=daemon.url)
    client.generate(model=CATALOG_MODEL, prompt="", options=SMALL)  # load it
    release = threading.Event()
    streaming = threading.Event()

    def hold_the_slot() -> None:
        body = {
            "model": CATALOG_MODEL,
            "prompt": "Write a very long story about a dragon.",
            "options": {**SMALL, "num_predict": 4000, "temperature": 0},
        }
        with httpx.stream("POST", f"{daemon.url}/api/generate", json=body, timeout=300) as r:
            for _ in r.iter_lines():
                streaming.set()
                if release.is_set():
                    return  # closing the stream frees the slot

    results: list[int] = []

    def wait_in_line() -> None:
        body = {
            "model": CATALOG_MODEL,
            "prompt": "Say hi.",
            "stream": False,
            "options": {**SMALL, "num_predict": 4},
        }
        results.append(httpx.post(f"{daemon.url}/api/generate", json=body, timeout=300).status_code)

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    try:
        assert streaming.wait(120)
        waiters = [threading.Thread(target=wait_in_line) for _ in range(2)]
        for waiter in waiters:
            waiter.start()
        assert wait_for(lambda: _ps(daemon)[0]["queue_depth"] == 2)
        with pytest.raises(ollama.ResponseError) as caught:
            client.generate(model=CATALOG_MODEL, prompt="Say hi.", options=SMALL)
        assert caught.value.status_code == 503
        assert caught.value.error == BUSY
        raw = httpx.post(
            f"{daemon.url}/api/chat",
            json={"model": CATALOG_MODEL, "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert (raw.status_code, raw.json()["error"]) == (503, BUSY)
    finally:
        release.set()
        holder.join(300)
    for waiter in waiters:
        waiter.join(300)
    assert results == [200, 200]
    entry = _ps(daemon)[0]
    assert entry["queue_depth"] == 0 and entry["active_requests"] == 0


def test_two_models_loaded_together_and_a_third_evicts_the_shortest_keep_alive(
    make_daemon: Callable[..., Daemon], smollm2_gguf: Path, tmp_path: Path
) -> None:
    daemon = make_daemon(tmp_path / "store", CORRAL_MAX_LOADED_MODELS="2", CORRAL_NUM_PARALLEL="1")
    for tag in ("a", "b", "c"):
        path = _distinct_gguf(smollm2_gguf, tmp_path / f"{tag}.gguf", f"evict-{tag}")
        _create_from_file(daemon, path, f"evict-{tag}")
        path.unlink()
    client = ollama.Client(host=daemon.url)
    client.generate(model="evict-a", prompt="", keep_alive="20m", options=SMALL)
    client.generate(model="evict-b", prompt="", keep_alive="2m", options=SMALL)
    both = _ps(daemon)
    assert [m["name"] for m in both] == ["evict-a:latest", "evict-b:latest"]  # by expiry
    assert len(daemon.runner_pids()) == 2
    for entry in both:
        assert entry["context_length"] == 512 and entry["num_parallel"] == 1
        assert isinstance(entry["size"], int) and entry["size"] > 90 * 1024 * 1024
        assert entry["size_vram"] == 0  # this machine runs on the CPU
    a_expiry = datetime.fromisoformat(str(both[0]["expires_at"]))
    b_expiry = datetime.fromisoformat(str(both[1]["expires_at"]))
    assert 60 * 17 < (a_expiry - b_expiry).total_seconds() < 60 * 19

    answer = client.generate(
        model="evict-c", prompt="Say hi.", keep_alive="10m", options={**SMALL, "num_predict": 4}
    )
    assert answer.done and answer.eval_count
    after = _ps(daemon)
    assert [m["name"] for m in after] == ["evict-a:latest", "evict-c:latest"]
    assert wait_for(lambda: len(daemon.runner_pids()) == 2, 15)
    assert "evicting model=evict-b:latest" in daemon.log.read_text()


def _send_raw_generate(daemon: Daemon, body: dict[str, object]) -> socket.socket:
    host, port = daemon.host.rsplit(":", 1)
    conn = socket.create_connection((host, int(port)), timeout=30)
    payload = json.dumps(body).encode()
    conn.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return conn


def test_disconnect_of_the_first_waiter_does_not_abort_the_load(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0], CORRAL_NUM_PARALLEL="2")
    options = {**SMALL, "num_predict": 4}
    body: dict[str, object] = {"model": CATALOG_MODEL, "prompt": "Say hi.", "options": options}
    first = _send_raw_generate(daemon, body)
    answers: list[ollama.GenerateResponse] = []

    def wait_for_it() -> None:
        client = ollama.Client(host=daemon.url)
        answers.append(client.generate(model=CATALOG_MODEL, prompt="Say hi.", options=options))

    second = threading.Thread(target=wait_for_it)
    second.start()
    assert wait_for(lambda: "starting runner" in daemon.log.read_text())
    time.sleep(0.1)  # let the second request join the wait
    assert "loaded model=" not in daemon.log.read_text()  # the load is still in flight
    first.close()  # the request that started the load goes away
    second.join(120)
    assert answers and answers[0].done and answers[0].eval_count
    log = daemon.log.read_text()
    assert log.count("starting runner") == 1, log[-3000:]
    assert len(daemon.runner_pids()) == 1


def test_load_timeout_fails_cleanly_and_leaves_no_runner(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0], CORRAL_LOAD_TIMEOUT="0.2")
    response = httpx.post(
        f"{daemon.url}/api/generate",
        json={"model": CATALOG_MODEL, "prompt": "Say hi.", "stream": False},
        timeout=60,
    )
    assert response.status_code == 500
    error = response.json()["error"]
    assert "runner failed to load: timed out after 0.2s" in error
    assert daemon.runner_pids() == []
    started = daemon.log.read_text().split("starting runner pid=")[1].splitlines()[0]
    assert not Path(f"/proc/{started.split()[0]}").exists()
    assert not Path(started.split(" in ")[-1]).exists()  # nor its socket directory
    assert _ps(daemon) == []
    assert httpx.get(f"{daemon.url}/api/version", timeout=10).status_code == 200


def test_ps_reports_automatic_parallel_and_sequences_in_use(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0])  # CORRAL_NUM_PARALLEL unset: up to 4 as memory allows
    client = ollama.Client(host=daemon.url)
    client.generate(model=CATALOG_MODEL, prompt="", options=SMALL)
    (entry,) = _ps(daemon)
    assert entry["num_parallel"] == 4  # this machine has far more than 4 × 512 tokens of KV free
    assert entry["context_length"] == 512
    assert entry["active_requests"] == 0
    running = client.ps().models[0]
    assert running.size == entry["size"] and running.size_vram == 0
    assert running.expires_at is not None
    # num_ctx of another size reloads the model; no keep_alive keeps the runner's keep-alive.
    client.generate(model=CATALOG_MODEL, prompt="", options={"num_ctx": 256}, keep_alive="1h")
    client.generate(model=CATALOG_MODEL, prompt="", options={"num_ctx": 256})
    (entry,) = _ps(daemon)
    assert entry["context_length"] == 256
    expires = datetime.fromisoformat(str(entry["expires_at"]))
    assert (expires - datetime.now(expires.tzinfo)).total_seconds() > 50 * 60
    assert daemon.log.read_text().count("starting runner") == 2


def test_model_that_cannot_fit_says_how_much_it_needs_and_starts_nothing(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    # 512 sequences of 8192 tokens: about 180 GiB of KV cache for SmolLM2.
    daemon = make_daemon(seeded_models[0], CORRAL_NUM_PARALLEL="512")
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=daemon.url).generate(
            model=CATALOG_MODEL, prompt="Say hi.", options={"num_ctx": 8192}
        )
    assert caught.value.status_code == 500
    error = caught.value.error
    assert error.startswith("model requires more system memory (")
    assert "GiB) than is available (" in error and "num_ctx 8192" in error
    assert "starting runner" not in daemon.log.read_text()
    assert daemon.runner_pids() == [] and _ps(daemon) == []


def test_a_runner_listens_on_a_socket_only_this_user_can_reach_and_it_leaves_with_the_runner(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0])
    client = ollama.Client(host=daemon.url)
    client.generate(model=CATALOG_MODEL, prompt="", options=SMALL)
    (cmdline,) = daemon.runner_processes().values()
    args = cmdline.decode().split("\0")
    assert "--port" not in args
    path = Path(args[args.index("--socket") + 1])
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    answer = client.generate(model=CATALOG_MODEL, prompt="Hi", options={**SMALL, "num_predict": 8})
    assert answer.response
    client.generate(model=CATALOG_MODEL, prompt="", keep_alive=0)
    assert wait_for(lambda: not path.parent.exists(), seconds=20)

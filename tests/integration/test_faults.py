"""Runner crashes, client disconnects and keep-alive expiry, with real runners."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

LONG = {
    "model": CATALOG_MODEL,
    "prompt": "Write a very long story about a dragon.",
    "options": {"temperature": 0, "num_predict": 400},
}


def test_runner_killed_mid_stream_ends_with_error_then_recovers(daemon: Daemon) -> None:
    lines: list[dict[str, object]] = []
    with httpx.stream("POST", f"{daemon.url}/api/generate", json=LONG, timeout=120) as response:
        assert response.status_code == 200
        for raw in response.iter_lines():
            if not raw:
                continue
            lines.append(json.loads(raw))
            if len(lines) == 3:
                pids = daemon.runner_pids()
                assert len(pids) == 1
                os.kill(pids[0], signal.SIGKILL)
    assert "error" in lines[-1], lines[-3:]
    assert "runner" in str(lines[-1]["error"])
    assert not any(line.get("done") for line in lines)
    # The next request gets a fresh runner and succeeds.
    again = ollama.Client(host=daemon.url).generate(
        model=CATALOG_MODEL, prompt="Say hi.", options={"temperature": 0, "num_predict": 8}
    )
    assert again.done and again.eval_count


def _stream_lines(
    daemon: Daemon, prompt: str, lines: list[dict[str, Any]], started: threading.Semaphore
) -> None:
    body = {
        "model": CATALOG_MODEL,
        "prompt": prompt,
        "options": {"temperature": 0, "num_predict": 2000, "seed": 1},
    }
    with httpx.stream("POST", f"{daemon.url}/api/generate", json=body, timeout=300) as response:
        assert response.status_code == 200
        for raw in response.iter_lines():
            if raw:
                lines.append(json.loads(raw))
                if len(lines) == 2:
                    started.release()


def test_runner_killed_mid_batch_fails_its_requests_with_its_stderr(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(
        seeded_models[0], CORRAL_NUM_PARALLEL="4", CORRAL_NUM_THREAD="1", CORRAL_DEBUG="1"
    )
    prompts = [f"Write a very long story about dragon number {i}." for i in range(4)]
    streams: list[list[dict[str, Any]]] = [[] for _ in prompts]
    started = threading.Semaphore(0)
    threads = [
        threading.Thread(target=_stream_lines, args=(daemon, p, s, started), daemon=True)
        for p, s in zip(prompts, streams, strict=True)
    ]
    for t in threads:
        t.start()
    for _ in threads:
        assert started.acquire(timeout=300)  # all four are generating in one batch
    pids = daemon.runner_pids()
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    log = daemon.log.read_text()
    for lines in streams:
        assert not any(line.get("done") for line in lines)
        error = str(lines[-1]["error"])
        assert error.startswith("model runner has unexpectedly stopped (signal 9): ")
        # The reason is the last thing the runner wrote on its stderr.
        reason = error.split(": ", 1)[1]
        assert f"runner pid={pids[0]} {reason}" in log
    # The next request gets a fresh runner.
    again = ollama.Client(host=daemon.url).generate(
        model=CATALOG_MODEL, prompt="Say hi.", options={"temperature": 0, "num_predict": 4}
    )
    assert again.done and again.eval_count
    assert daemon.runner_pids() and daemon.runner_pids()[0] != pids[0]


def test_disconnect_mid_stream_stops_generation(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0], CORRAL_NUM_PARALLEL="1")
    client = ollama.Client(host=daemon.url)
    full = client.generate(**LONG)  # how long the whole answer takes on this machine
    assert full.eval_count and full.eval_count > 100 and full.eval_duration
    with httpx.stream("POST", f"{daemon.url}/api/generate", json=LONG, timeout=120) as response:
        for count, _ in enumerate(response.iter_lines()):
            if count == 2:
                break
    # The runner has one sequence slot: had the abandoned answer gone on, this request would
    # wait for it to finish. It starts at once instead.
    quick = client.generate(
        model=CATALOG_MODEL, prompt="Say hi.", options={"temperature": 0, "num_predict": 4}
    )
    assert quick.done and quick.total_duration
    assert quick.total_duration < full.eval_duration / 2

    def settled() -> bool:
        running = httpx.get(f"{daemon.url}/api/ps", timeout=10).json()["models"]
        entry = next(m for m in running if m["model"] == CATALOG_MODEL)
        return bool(entry["active_requests"] == 0 and entry["queue_depth"] == 0)

    assert wait_for(settled, 30)


def test_keep_alive_expiry_unloads(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0])
    client = ollama.Client(host=daemon.url)
    client.generate(model=CATALOG_MODEL, prompt="", keep_alive=1)
    assert daemon.runner_pids()
    assert wait_for(lambda: not client.ps().models, 30)
    assert wait_for(lambda: not daemon.runner_pids(), 10)


def test_daemon_sigterm_leaves_no_runner(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0])
    ollama.Client(host=daemon.url).generate(model=CATALOG_MODEL, prompt="", keep_alive=-1)
    pids = daemon.runner_pids()
    assert pids
    daemon.stop()
    assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), 15)


def test_daemon_sigkill_leaves_no_runner_and_the_next_daemon_sweeps_its_directory(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object], tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    daemon = make_daemon(seeded_models[0], TMPDIR=str(temp))
    ollama.Client(host=daemon.url).generate(model=CATALOG_MODEL, prompt="", keep_alive=-1)
    pids = daemon.runner_pids()
    assert pids
    daemon.process.kill()
    daemon.process.wait()

    def gone(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"

    assert wait_for(lambda: all(gone(pid) for pid in pids), 15)
    # The kernel killed the runner with its daemon: its directory and socket stay behind
    # until a daemon starts once they are a minute old.
    (left,) = temp.glob("corral-runner-*")
    assert (left / "socket").exists()
    then = time.time() - 120
    os.utime(left, (then, then))
    make_daemon(seeded_models[0], TMPDIR=str(temp))
    assert not left.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_daemon_signal_ends_open_streams_with_an_error_line(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object], sig: signal.Signals
) -> None:
    daemon = make_daemon(seeded_models[0])
    lines: list[dict[str, object]] = []
    with httpx.stream("POST", f"{daemon.url}/api/generate", json=LONG, timeout=120) as response:
        assert response.status_code == 200
        for raw in response.iter_lines():
            if not raw:
                continue
            lines.append(json.loads(raw))
            if len(lines) == 2:
                pids = daemon.runner_pids()
                assert len(pids) == 1
                daemon.process.send_signal(sig)
    assert lines[-1] == {"error": "the server is shutting down; the request was not finished"}
    assert not any(line.get("done") for line in lines)
    assert daemon.process.wait(30) == 0
    assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), 15)


def test_daemon_sigterm_during_a_load_stops_the_loading_runner(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0])
    answers: list[httpx.Response | Exception] = []

    def request() -> None:
        try:
            answers.append(httpx.post(f"{daemon.url}/api/generate", json=LONG, timeout=120))
        except httpx.HTTPError as exc:
            answers.append(exc)

    waiter = threading.Thread(target=request)
    waiter.start()
    assert wait_for(lambda: "starting runner pid=" in daemon.log.read_text(), 30)
    pid = int(daemon.log.read_text().split("starting runner pid=")[1].split()[0])
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(30) == 0
    waiter.join(30)
    assert "loaded model=" not in daemon.log.read_text()  # it was still loading
    assert isinstance(answers[0], httpx.Response), answers
    assert answers[0].status_code == 503
    assert "shutting down" in answers[0].json()["error"]
    assert not Path(f"/proc/{pid}").exists()

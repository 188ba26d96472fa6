"""Reaching the daemon: the unavailable path, and starting a background daemon on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import corral.cli._daemon as daemon_module
from corral.cli import cli
from corral.cli._daemon import CliState, ensure_running
from corral.client import Client
from corral.errors import DaemonUnavailable

# A stand-in daemon: answers every HEAD with 200 on the port given as argv[1].
FAKE_SERVE = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        print("request", *args, flush=True)
print("fake daemon starting", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unavailable_daemon_is_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("CORRAL_HOST", f"127.0.0.1:{port}")
    result = CliRunner().invoke(cli, ["list"], obj=CliState(autostart=False))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: could not connect to corral at http://127.0.0.1:{port}; "
        "is 'corral serve' running?\n"
    )
    assert result.stdout == ""


def test_remote_host_is_never_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "never" / "server.log"
    monkeypatch.setenv("CORRAL_LOG_FILE", str(log))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = Client("10.9.8.7:11434", transport=httpx.MockTransport(refuse))
    with pytest.raises(DaemonUnavailable, match=r"corral at http://10\.9\.8\.7:11434"):
        ensure_running(client, command=[sys.executable, "-c", "raise SystemExit(9)"])
    assert not log.parent.exists()


def test_default_command_is_corral_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []

    class Exited:
        def poll(self) -> int:
            return 1

    def fake_spawn(command: list[str], log_path: Path) -> Any:
        started.append(list(command))
        return Exited()

    monkeypatch.setattr(daemon_module, "spawn_daemon", fake_spawn)
    client = Client(f"127.0.0.1:{free_port()}")
    with pytest.raises(DaemonUnavailable, match="exited with status 1"):
        ensure_running(client)
    assert started == [[sys.executable, "-m", "corral", "serve"]]


def test_autostart_starts_a_detached_daemon_and_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    log = tmp_path / "deep" / "logs" / "server.log"
    log.parent.mkdir(parents=True)
    log.write_text("earlier run\n")
    monkeypatch.setenv("CORRAL_LOG_FILE", str(log))
    client = Client(f"127.0.0.1:{port}")
    process = ensure_running(client, command=[sys.executable, "-c", FAKE_SERVE, str(port)])
    assert isinstance(process, subprocess.Popen)
    try:
        assert client.heartbeat()
        assert os.getsid(process.pid) == process.pid  # its own session: no terminal signals
        assert ensure_running(client) is None  # already running: nothing started
    finally:
        process.terminate()
        process.wait(timeout=10)
    text = log.read_text()
    assert text.startswith("earlier run\n")  # appended, not truncated
    assert "fake daemon starting" in text


def test_autostart_failure_names_the_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "a" / "b" / "server.log"
    monkeypatch.setenv("CORRAL_LOG_FILE", str(log))
    client = Client(f"127.0.0.1:{free_port()}")
    command = [
        sys.executable,
        "-c",
        "import sys; print('address in use', file=sys.stderr); sys.exit(3)",
    ]
    with pytest.raises(DaemonUnavailable) as info:
        ensure_running(client, command=command)
    assert str(info.value) == f"corral serve exited with status 3 while starting; see {log}"
    assert "address in use" in log.read_text()


def test_autostart_timeout_names_the_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "server.log"
    monkeypatch.setenv("CORRAL_LOG_FILE", str(log))
    port = free_port()
    client = Client(f"127.0.0.1:{port}")
    command = [sys.executable, "-c", "import time; time.sleep(3)"]
    with pytest.raises(DaemonUnavailable) as info:
        ensure_running(client, command=command, timeout=0.3)
    assert str(info.value).startswith(f"corral serve did not answer at http://127.0.0.1:{port}")
    assert str(info.value).endswith(f"see {log}")

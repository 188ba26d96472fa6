"""Real daemons for integration tests: `python -m corral serve` on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CATALOG_MODEL = "smollm2:135m"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    """A running `corral serve` and how to reach it."""

    url: str
    home: Path
    models: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def env(self) -> dict[str, str]:
        """Environment for a CLI process that talks to this daemon."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        env.update(
            CORRAL_HOST=self.host, CORRAL_HOME=str(self.home), CORRAL_MODELS=str(self.models)
        )
        return env

    def runner_processes(self) -> dict[int, bytes]:
        """Runner subprocesses whose parent is this daemon (a spare too), with their cmdlines."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid and b"corral.runner" in cmdline:
                found[int(entry.name)] = cmdline
        return found

    def runner_pids(self) -> list[int]:
        """Runner subprocesses whose parent is this daemon."""
        return list(self.runner_processes())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_daemon(home: Path, models: Path, **extra_env: str) -> Daemon:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(
        CORRAL_HOST=f"127.0.0.1:{port}",
        CORRAL_HOME=str(home),
        CORRAL_MODELS=str(models),
        CORRAL_NUM_THREAD="2",
        # Tests count runner processes; the spare has its own tests (test_spare_runner.py).
        CORRAL_SPARE_RUNNER="0",
    )
    env.update(extra_env)  # a test's own settings win, CORRAL_NUM_THREAD included
    log = home / "serve.log"
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "corral", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    daemon = Daemon(f"http://127.0.0.1:{port}", home, models, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"corral serve exited {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if httpx.head(daemon.url, timeout=1).status_code == 200:
                return daemon
        except httpx.HTTPError:
            time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"corral serve did not answer: {log.read_text()[-2000:]}")


def pull(daemon: Daemon, model: str) -> list[dict[str, object]]:
    events = []
    with httpx.stream(
        "POST",
        f"{daemon.url}/api/pull",
        json={"model": model},
        timeout=httpx.Timeout(600, connect=5),
    ) as response:
        response.raise_for_status()
        import json

        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
    if not events or events[-1].get("status") != "success":
        raise RuntimeError(f"pull {model} failed: {events[-3:]}")
    return events


@pytest.fixture(scope="session")
def seeded_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """A store with smollm2:135m pulled from the offline catalog (once per session)."""
    root = tmp_path_factory.mktemp("seed")
    daemon = start_daemon(root / "home", root / "models")
    try:
        events = pull(daemon, CATALOG_MODEL)
    finally:
        daemon.stop()
    return root / "models", events


@pytest.fixture(scope="session")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, seeded_models: tuple[Path, list[dict[str, object]]]
) -> Iterator[Daemon]:
    """A session daemon serving the seeded store (tests that mutate use their own names)."""
    root = tmp_path_factory.mktemp("daemon")
    running = start_daemon(root / "home", seeded_models[0])
    yield running
    running.stop()


def create_with_template(daemon: Daemon, name: str, template: str) -> None:
    """Create `name` on SmolLM2's weights with the TEMPLATE in tests/integration/data/`template`."""
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={
            "model": name,
            "from": CATALOG_MODEL,
            "template": (Path(__file__).parent / "data" / template).read_text().rstrip("\n"),
            "stream": False,
        },
        timeout=60,
    )
    response.raise_for_status()


GREEDY_MODEL = "smollm2-greedy:latest"


@pytest.fixture(scope="session")
def greedy_model(daemon: Daemon) -> str:
    """SmolLM2 with temperature 0, so CLI answers (which take no options) are repeatable.

    `num_predict` bounds every answer: a model that never says its stop token would
    otherwise go on shifting its context for as long as a test waits.
    """
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={
            "model": GREEDY_MODEL,
            "from": CATALOG_MODEL,
            "parameters": {"temperature": 0, "num_predict": 256},
            "stream": False,
        },
        timeout=60,
    )
    response.raise_for_status()
    return GREEDY_MODEL


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start extra daemons with their own settings; all are stopped afterwards."""
    started: list[Daemon] = []

    def make(models: Path | None = None, **env: str) -> Daemon:
        d = start_daemon(tmp_path / f"home{len(started)}", models or tmp_path / "models", **env)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()

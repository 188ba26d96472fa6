"""Registry processes for integration tests: the real `corral registry serve`, and the wrapper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.integration.conftest import Daemon, free_port

WRAPPER = Path(__file__).with_name("registry_wrapper.py")


@dataclass
class Registry:
    """A running registry process."""

    address: str
    port: int
    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    record: Path | None = None

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def records(self) -> list[dict[str, object]]:
        if self.record is None or not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]

    def access_log(self) -> list[str]:
        return [
            line for line in self.log.read_text().splitlines() if "corral.registry.access" in line
        ]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}


def _wait(registry: Registry) -> Registry:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"registry exited: {registry.log.read_text()[-2000:]}")
        try:
            httpx.get(f"{registry.url}/v2/", timeout=1)
            return registry
        except httpx.HTTPError:
            time.sleep(0.1)
    registry.kill()
    raise RuntimeError("registry did not answer")


@dataclass
class Registries:
    tmp: Path
    started: list[Registry] = field(default_factory=list)

    def serve(
        self, root: Path, *, port: int | None = None, token_file: Path | None = None
    ) -> Registry:
        """The real thing: `python -m corral registry serve`."""
        port = port or free_port()
        log = self.tmp / f"registry-{len(self.started)}.log"
        args = [
            sys.executable,
            "-m",
            "corral",
            "registry",
            "serve",
            "--root",
            str(root),
            "--host",
            f"127.0.0.1:{port}",
        ]
        if token_file is not None:
            args += ["--token-file", str(token_file)]
        with log.open("ab") as out:
            process = subprocess.Popen(args, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        registry = Registry("127.0.0.1", port, root, process, log)
        self.started.append(registry)
        return _wait(registry)

    def wrapped(
        self, root: Path, *options: str, address: str = "127.0.0.1", port: int | None = None
    ) -> Registry:
        """The real app inside `registry_wrapper.py`, with the faults asked for."""
        port = port or free_port()
        index = len(self.started)
        log = self.tmp / f"wrapper-{index}.log"
        record = self.tmp / f"wrapper-{index}.jsonl"
        args = [
            sys.executable,
            str(WRAPPER),
            "--root",
            str(root),
            "--port",
            str(port),
            "--address",
            address,
            "--record",
            str(record),
            *options,
        ]
        with log.open("ab") as out:
            process = subprocess.Popen(args, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        registry = Registry(address, port, root, process, log, record)
        self.started.append(registry)
        return _wait(registry)


def stream(
    daemon: Daemon, path: str, body: dict[str, object], timeout: float = 300
) -> list[dict[str, object]]:
    """POST an NDJSON endpoint and collect every event (an error line included)."""
    events: list[dict[str, object]] = []
    with httpx.stream(
        "POST", f"{daemon.url}{path}", json=body, timeout=httpx.Timeout(timeout, connect=5)
    ) as response:
        if response.status_code != 200:
            response.read()
            return [{"error": response.json().get("error"), "status_code": response.status_code}]
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
    return events


OnEvent = Callable[[dict[str, object]], None]

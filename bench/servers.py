"""The two servers under test as child processes: a corral daemon and llama.cpp's llama-server.

Both listen on free loopback ports, log to files under the benchmark's cache directory,
and are stopped (SIGTERM, then SIGKILL) when the benchmark ends, also on errors.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["Corral", "LlamaServer", "cpu_seconds", "free_port", "model_blob"]

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time the processes have used so far (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


@dataclass
class Corral:
    """`python -m corral serve` with its own CORRAL_HOME and CORRAL_MODELS."""

    home: Path
    models: Path
    env: dict[str, str] = field(default_factory=dict)
    """Extra CORRAL_* settings (threads, parallel sequences, context length)."""
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "serve.log"

    def start(self, timeout: float = 60.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        env.update(
            CORRAL_HOST=f"127.0.0.1:{port}",
            CORRAL_HOME=str(self.home),
            CORRAL_MODELS=str(self.models),
            **self.env,
        )
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "corral", "serve"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"corral serve exited early: {_tail(self.log)}")
            try:
                if httpx.head(self.url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"corral serve did not answer within {timeout:.0f} s: {_tail(self.log)}")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def pids(self) -> list[int]:
        """The daemon process itself."""
        return [self.process.pid] if self.process is not None else []

    def runner_pids(self) -> list[int]:
        """The daemon's runner subprocesses (for profiling)."""
        if self.process is None:
            return []
        pids = []
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
                pids.append(int(entry.name))
        return pids

    def ensure_pulled(self, name: str) -> None:
        """Pull `name` (from the offline catalog) unless the store already has it."""
        show = httpx.post(f"{self.url}/api/show", json={"model": name}, timeout=30)
        if show.status_code == 200:
            return
        last: dict[str, object] = {}
        with httpx.stream(
            "POST",
            f"{self.url}/api/pull",
            json={"model": name},
            timeout=httpx.Timeout(900, connect=5),
        ) as response:
            for line in response.iter_lines():
                if line:
                    last = json.loads(line)
                    if "error" in last:
                        raise RuntimeError(f"pull {name} failed: {last['error']}")
        if last.get("status") != "success":
            raise RuntimeError(f"pull {name} did not finish: {last}")

    def unload(self, name: str, timeout: float = 30.0) -> None:
        """Unload `name` (keep_alive 0) and wait until /api/ps no longer lists it."""
        httpx.post(
            f"{self.url}/api/generate", json={"model": name, "keep_alive": 0}, timeout=timeout
        ).raise_for_status()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ps = httpx.get(f"{self.url}/api/ps", timeout=5).json()
            if not any(m.get("name") == name or m.get("model") == name for m in ps["models"]):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} was still loaded {timeout:.0f} s after keep_alive 0")


def model_blob(models: Path, name: str) -> Path:
    """The GGUF blob of a model in an Ollama-layout store, read from its manifest."""
    model, _, tag = name.partition(":")
    manifest = models / "manifests" / "registry.ollama.ai" / "library" / model / (tag or "latest")
    data = json.loads(manifest.read_text())
    for layer in data["layers"]:
        if layer["mediaType"] == "application/vnd.ollama.image.model":
            return models / "blobs" / str(layer["digest"]).replace(":", "-")
    raise RuntimeError(f"{manifest} has no model layer")


@dataclass
class LlamaServer:
    """llama.cpp's llama-server on one GGUF file."""

    binary: Path
    model: Path
    log: Path
    threads: int
    ctx_per_seq: int
    parallel: int = 1
    extra: Sequence[str] = ()
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    def command(self, port: int) -> list[str]:
        return [
            str(self.binary),
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            str(self.threads),
            "--threads-batch",
            str(self.threads),
            # -c is the whole KV cache; each of the -np slots gets an equal share, as each of
            # corral's num_parallel sequences gets num_ctx.
            "--ctx-size",
            str(self.ctx_per_seq * self.parallel),
            "--parallel",
            str(self.parallel),
            "--no-webui",
            *self.extra,
        ]

    def spawn(self) -> float:
        """Start the process; returns the perf_counter time just before it was started."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                self.command(port), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        return started

    def wait_ready(self, timeout: float = 120.0, poll: float = 0.005) -> None:
        """Poll /health until the model is loaded (it answers 503 while loading)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"llama-server exited early: {_tail(self.log)}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(poll)
        raise RuntimeError(f"llama-server was not ready within {timeout:.0f} s: {_tail(self.log)}")

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None else []

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

"""The spare runner: a cold load takes a process that has done its imports already."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import ollama

from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.waiting import wait_for


def _spares(daemon: Daemon) -> list[int]:
    return [pid for pid, cmd in daemon.runner_processes().items() if b"--standby" in cmd]


def test_a_cold_load_takes_the_spare_and_a_new_spare_follows(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0], CORRAL_SPARE_RUNNER="1", CORRAL_NUM_PARALLEL="1")
    assert wait_for(lambda: len(_spares(daemon)) == 1)
    spare = _spares(daemon)[0]

    answer = ollama.Client(host=daemon.url).generate(
        model=CATALOG_MODEL, prompt="Say hi.", options={"temperature": 0, "num_predict": 4}
    )
    assert answer.done and answer.eval_count

    # The spare became the model's runner, and another spare was started after the load.
    assert f"starting runner pid={spare} " in daemon.log.read_text()
    assert wait_for(lambda: any(pid != spare for pid in _spares(daemon)))
    assert spare in daemon.runner_processes()
    assert len(daemon.runner_processes()) == 2


def test_spare_leaves_with_the_daemon(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        daemon = make_daemon(seeded_models[0], CORRAL_SPARE_RUNNER="1")
        assert wait_for(lambda d=daemon: len(_spares(d)) == 1)
        spare = _spares(daemon)[0]
        os.kill(daemon.process.pid, sig)
        daemon.process.wait(30)
        assert wait_for(lambda pid=spare: not Path(f"/proc/{pid}").exists()), sig


def test_spare_with_closed_stdin_exits_quietly() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "corral.runner", "--standby", "--parent-pid", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stdout == b""


def test_spare_rejects_arguments_that_are_not_a_json_list() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "corral.runner", "--standby"],
        input=b'{"model": "x"}\n',
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert b"a spare runner expects a JSON list of arguments on stdin" in proc.stderr


def test_standby_takes_only_a_parent_pid() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "corral.runner", "--standby", "--model", "x.gguf"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert b"--standby takes only --parent-pid N, not --model x.gguf" in proc.stderr

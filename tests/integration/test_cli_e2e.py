"""The `corral` command against a real daemon, as a user runs it from a shell."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

ESCAPE = re.compile(rb"\x1b|\r")


def corral(
    daemon: Daemon,
    *args: str,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "corral", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=daemon.env(),
        cwd=cwd,
        timeout=timeout,
    )


def test_run_one_shot_prints_only_the_answer(daemon: Daemon, greedy_model: str) -> None:
    # A model with temperature 0, so the answer is repeatable (`run` takes no options).
    result = corral(
        daemon, "run", greedy_model, "What is the capital of France? Answer in one word."
    )
    assert result.returncode == 0, result.stderr
    assert b"paris" in result.stdout.lower()
    assert not ESCAPE.search(result.stdout)
    assert result.stdout.endswith(b"\n")


# Sampled answers with no num_predict can go on for thousands of tokens now that the context
# shifts instead of ending the answer, as Ollama's do; these tests need only a short one.
SHORT = ("-o", "num_predict=48")


def _prompt_tokens(stderr: bytes) -> int:
    match = re.search(rb"prompt eval count:\s+(\d+)", stderr)
    assert match, stderr
    return int(match.group(1))


def test_run_with_piped_stdin_puts_input_first(daemon: Daemon) -> None:
    prompt = "Which city is named in the text above? One word."
    text = b"I live in Paris, the capital of France, next to the river Seine.\n"
    piped = corral(daemon, "run", "--verbose", CATALOG_MODEL, prompt, *SHORT, stdin=text)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip()
    assert not ESCAPE.search(piped.stdout)
    bare = corral(daemon, "run", "--verbose", CATALOG_MODEL, prompt, *SHORT)
    # The piped text is part of the prompt: about fifteen more tokens were evaluated.
    assert _prompt_tokens(piped.stderr) >= _prompt_tokens(bare.stderr) + 10


def test_run_unknown_model_is_one_line_and_exit_1(daemon: Daemon) -> None:
    result = corral(daemon, "run", "does-not-exist:1b", "hello")
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:")
    assert "does-not-exist" in lines[0]


def test_list_ps_show(daemon: Daemon) -> None:
    listed = corral(daemon, "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.decode().splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert any(row.startswith(CATALOG_MODEL) and "MB" in row for row in rows)

    corral(daemon, "run", CATALOG_MODEL, "hi", *SHORT)
    ps = corral(daemon, "ps")
    assert ps.returncode == 0, ps.stderr
    assert ps.stdout.decode().splitlines()[0].split()[:3] == ["NAME", "ID", "SIZE"]
    assert CATALOG_MODEL in ps.stdout.decode()
    assert "100% CPU" in ps.stdout.decode() or "GPU" in ps.stdout.decode()

    shown = corral(daemon, "show", CATALOG_MODEL)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    for needle in ("architecture", "llama", "Q4_1", "completion", "context length"):
        assert needle in text
    template = corral(daemon, "show", CATALOG_MODEL, "--template")
    assert b"<|im_start|>" in template.stdout


def test_cp_rm_stop(daemon: Daemon) -> None:
    copied = corral(daemon, "cp", CATALOG_MODEL, "cli-copy")
    assert copied.returncode == 0, copied.stderr
    assert b"copied" in copied.stdout
    assert b"cli-copy:latest" in corral(daemon, "list").stdout
    removed = corral(daemon, "rm", "cli-copy")
    assert removed.returncode == 0, removed.stderr
    assert b"deleted 'cli-copy'" in removed.stdout
    assert b"cli-copy" not in corral(daemon, "list").stdout
    assert corral(daemon, "rm", "cli-copy").returncode == 1
    stopped = corral(daemon, "stop", CATALOG_MODEL)
    assert stopped.returncode == 0, stopped.stderr


def test_create_from_gguf_path_with_modelfile(
    daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    (tmp_path / "Modelfile").write_text(
        f"FROM {smollm2_gguf}\n"
        'SYSTEM """You always answer in French."""\n'
        "PARAMETER temperature 0\n"
        "PARAMETER num_predict 24\n"
    )
    created = corral(daemon, "create", "cli-french", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 0, created.stderr
    assert b"success" in created.stdout + created.stderr
    shown = corral(daemon, "show", "cli-french", "--system")
    assert b"You always answer in French." in shown.stdout
    params = corral(daemon, "show", "cli-french", "--parameters")
    assert b"temperature" in params.stdout
    # The GGUF blob is shared with the catalog model: no second copy in the store.
    blobs = [p for p in (daemon.models / "blobs").iterdir() if p.stat().st_size > 90_000_000]
    assert len(blobs) == 1
    corral(daemon, "rm", "cli-french")
    assert (
        len([p for p in (daemon.models / "blobs").iterdir() if p.stat().st_size > 90_000_000]) == 1
    )


def test_create_with_bad_modelfile_names_the_line(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text("FROM x.gguf\nFORM y\n")
    result = corral(daemon, "create", "bad", "-f", str(tmp_path / "Modelfile"))
    assert result.returncode == 1
    assert "Modelfile:2" in result.stderr.decode()
    assert 'unknown instruction "FORM"' in result.stderr.decode()


def test_usage_error_is_exit_2(daemon: Daemon) -> None:
    assert corral(daemon, "run").returncode == 2
    assert corral(daemon, "no-such-command").returncode == 2


def _serve_pids_for(host: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and f"CORRAL_HOST={host}".encode() in environ:
            pids.append(int(entry.name))
    return pids


def test_commands_start_the_daemon_in_the_background(
    tmp_path: Path, seeded_models: tuple[Path, object]
) -> None:
    from tests.integration.conftest import free_port

    host = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_HOST=host, CORRAL_HOME=str(tmp_path), CORRAL_MODELS=str(seeded_models[0]))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "corral", "list"], capture_output=True, env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert CATALOG_MODEL.encode() in result.stdout
        assert _serve_pids_for(host), "no background daemon found"
        log = tmp_path / "logs" / "server.log"
        assert log.is_file() and log.stat().st_size > 0
    finally:
        for pid in _serve_pids_for(host):
            os.kill(pid, signal.SIGTERM)


def test_run_pulls_a_missing_model_from_the_catalog(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()  # an empty store
    result = corral(daemon, "run", CATALOG_MODEL, "Say hello.", *SHORT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr == b""  # not a terminal: no progress noise
    assert CATALOG_MODEL.encode() in corral(daemon, "list").stdout


def test_pull_command_shows_statuses(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()
    result = corral(daemon, "pull", CATALOG_MODEL, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.decode().splitlines()
    assert lines[0] == "pulling manifest" and lines[-1] == "success"
    assert "verifying sha256 digest" in lines

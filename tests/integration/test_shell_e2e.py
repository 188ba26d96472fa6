"""`corral run` as a shell user meets it: a real pseudo-terminal for the chat, pipes for scripts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from corral.sessions import SessionStore
from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.test_cli_e2e import corral

pytestmark = pytest.mark.integration

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]|\r")
ESCAPE = re.compile(rb"\x1b")


def spawn(daemon: Daemon, *args: str) -> pexpect.spawn:
    env = daemon.env()
    # pexpect answers no cursor-position requests: tell prompt-toolkit not to ask.
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30", PROMPT_TOOLKIT_NO_CPR="1")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "corral", *args],
        env=env,
        dimensions=(30, 100),
        encoding="utf-8",
        timeout=120,
    )
    return child


def test_chat_under_a_real_terminal(daemon: Daemon, greedy_model: str) -> None:
    child = spawn(daemon, "run", greedy_model, "-o", "num_predict=24")
    try:
        child.expect_exact("Send a message (/? for help)")  # the placeholder
        child.send("What is the capital of France? Answer in one word.\r")
        child.expect(r"(?i)paris")
        child.expect_exact(">>> ")
        # Ctrl+C at the prompt does not leave.
        child.send("\x03")
        child.expect_exact("Use Ctrl + d or /bye to exit.")
        # A slash command, then a second answer in the same session.
        child.send("/set verbose\r")
        child.expect_exact("Set 'verbose' mode.")
        child.send("And of Italy? One word.\r")
        child.expect_exact("eval rate:")
        child.expect_exact(">>> ")
        child.send("\x04")  # Ctrl+D leaves
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    with SessionStore(daemon.home / "sessions.db") as store:
        session = store.latest(greedy_model)
    assert session is not None and len(session.messages) == 4


def test_ctrl_c_under_a_terminal_stops_only_the_answer(daemon: Daemon, greedy_model: str) -> None:
    child = spawn(daemon, "run", greedy_model, "-o", "num_predict=1500", "--nowordwrap")
    try:
        child.expect_exact("Send a message")
        child.send("Write a very long story about a dragon, in many chapters.\r")
        child.expect_exact("chapters.")  # the typed line, echoed
        child.expect(r"\n[^\n>]*\w+ \w+ \w+")  # the answer has started
        child.send("\x03")
        child.expect_exact(">>> ")
        child.send("/set parameter num_predict 8\r")
        child.expect_exact("Set parameter 'num_predict' to '8'")
        child.send("Say hi.\r")
        child.expect_exact(">>> ")
        child.send("/bye\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_resume_under_a_terminal_shows_the_conversation(daemon: Daemon, greedy_model: str) -> None:
    child = spawn(daemon, "run", greedy_model, "-o", "num_predict=8")
    child.expect_exact("Send a message")
    child.send("Remember the word pineapple.\r")
    child.expect_exact(">>> ")
    child.send("/bye\r")
    child.expect(pexpect.EOF)
    child.close()
    with SessionStore(daemon.home / "sessions.db") as store:
        hits = store.search("pineapple")
    assert hits
    resumed = spawn(daemon, "run", greedy_model, "--resume", str(hits[0].session_id))
    resumed.expect_exact(">>> Remember the word pineapple.")
    resumed.send("/bye\r")
    resumed.expect(pexpect.EOF)
    resumed.close()
    assert resumed.exitstatus == 0
    missing = spawn(daemon, "run", greedy_model, "--resume", "99999")
    missing.expect_exact("Error: no saved session 99999")
    missing.expect(pexpect.EOF)
    missing.close()
    assert missing.exitstatus == 1


def test_piped_answers_carry_no_escape_codes(
    daemon: Daemon, greedy_model: str, tmp_path: Path
) -> None:
    prompt = "Write two sentences about the sea."
    plain = corral(daemon, "run", greedy_model, prompt, "-o", "num_predict=40")
    assert plain.returncode == 0, plain.stderr
    assert not ESCAPE.search(plain.stdout) and b"\r" not in plain.stdout
    assert plain.stdout.endswith(b"\n") and not plain.stdout.endswith(b"\n\n")
    assert plain.stderr == b""  # no spinner, no progress when not a terminal
    # The same prompt from a file (`< file`) gives the same bytes (temperature 0).
    (tmp_path / "prompt.txt").write_text(prompt)  # (a trailing newline would be prompt text)
    with (tmp_path / "prompt.txt").open("rb") as handle:
        from_file = subprocess.run(
            [sys.executable, "-m", "corral", "run", greedy_model, "-o", "num_predict=40"],
            stdin=handle,
            capture_output=True,
            env=daemon.env(),
            timeout=180,
        )
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == plain.stdout
    unwrapped = corral(daemon, "run", greedy_model, prompt, "-o", "num_predict=40", "--nowordwrap")
    assert unwrapped.stdout == plain.stdout  # a pipe is never wrapped anyway


def test_format_json_system_and_options(daemon: Daemon) -> None:
    result = corral(
        daemon,
        "run",
        CATALOG_MODEL,
        "Describe a cat as JSON with keys name and age.",
        "--format",
        "json",
        "--system",
        "You answer in JSON.",
        "-o",
        "temperature=0",
        "-o",
        "num_predict=200",
        "--keepalive",
        "1m",
    )
    assert result.returncode == 0, result.stderr
    assert not ESCAPE.search(result.stdout)
    # Constrained to JSON from the first token (SmolLM2 may not close it within num_predict).
    assert result.stdout.decode().lstrip().startswith("{")
    assert result.stdout.endswith(b"\n")


def test_bad_option_is_exit_2_with_nothing_on_stdout(daemon: Daemon) -> None:
    result = corral(daemon, "run", CATALOG_MODEL, "hi", "-o", "temperature=warm")
    assert result.returncode == 2
    assert result.stdout == b""
    assert b'parameter "temperature" must be a number, got "warm"' in result.stderr


def test_sigint_during_a_piped_answer_exits_130(daemon: Daemon, greedy_model: str) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "corral",
            "run",
            greedy_model,
            "Write a long story about a dragon.",
            "-o",
            "num_predict=2000",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=daemon.env(),
    )
    assert process.stdout is not None
    first = process.stdout.read(20)  # the answer has started
    assert first
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode(errors="replace")
    assert not ESCAPE.search(first + out)


def test_list_ps_show_json_against_the_daemon(daemon: Daemon) -> None:
    listed = corral(daemon, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [m["name"] for m in json.loads(listed.stdout)]
    assert CATALOG_MODEL in names
    shown = json.loads(corral(daemon, "show", CATALOG_MODEL, "--json").stdout)
    assert "completion" in shown["capabilities"]
    loaded = corral(daemon, "run", CATALOG_MODEL, "hi", "-o", "num_predict=1", "--keepalive", "10m")
    assert loaded.returncode == 0, loaded.stderr
    running = json.loads(corral(daemon, "ps", "--json").stdout)
    assert running, "nothing loaded after a run with --keepalive 10m"
    for entry in running:
        assert entry["name"] in names and entry["size"] > 0 and "expires_at" in entry

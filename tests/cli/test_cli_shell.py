"""`-o/--option`, `--resume` checks, `--json` listings, `completion` and `history` (no daemon)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.sessions import SessionStore, StoredMessage
from tests.cli.conftest import FakeDaemon, Invoker, ndjson


def _show_ok(body: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"details": {"family": "llama"}, "capabilities": ["completion"]}
    )


def _answer(body: Any) -> httpx.Response:
    return ndjson({"response": "ok", "done": False}, {"response": "", "done": True})


def test_options_are_typed_and_sent(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = _show_ok
    daemon.routes[("POST", "/api/generate")] = _answer
    args = ["run", "m", "hi", "-o", "temperature=0.5", "--option", "seed=7"]
    result = corral(*args, "-o", "stop=<a>", "-o", "stop=<b>", "-o", "use_mmap=false")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok\n"
    options = daemon.calls("POST", "/api/generate")[0]["options"]
    assert options == {"temperature": 0.5, "seed": 7, "stop": ["<a>", "<b>"], "use_mmap": False}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("temperature", "'temperature': expected KEY=VALUE"),
        ("=1", "expected KEY=VALUE"),
        ("temperature=hot", 'parameter "temperature" must be a number, got "hot"'),
        ("num_ctx=1.5", 'parameter "num_ctx" must be an integer, got "1.5"'),
        ("bogus=1", 'unknown parameter "bogus"'),
    ],
)
def test_bad_options_are_usage_errors(
    corral: Invoker, daemon: FakeDaemon, value: str, message: str
) -> None:
    result = corral("run", "m", "hi", "-o", value)
    assert result.exit_code == 2
    assert message in result.stderr
    assert daemon.requests == []  # nothing was sent


def test_resume_needs_a_number_and_no_prompt(corral: Invoker, daemon: FakeDaemon) -> None:
    result = corral("run", "m", "--resume", "abc")
    assert result.exit_code == 2 and "'abc': expected a session number" in result.stderr
    result = corral("run", "m", "hi", "--resume=3")
    assert result.exit_code == 2 and "--resume continues a chat" in result.stderr


def test_list_ps_show_json(corral: Invoker, daemon: FakeDaemon) -> None:
    models = [{"name": "smollm2:135m", "size": 1}, {"name": "other:1", "size": 2}]
    daemon.routes[("GET", "/api/tags")] = lambda b: httpx.Response(200, json={"models": models})
    daemon.routes[("GET", "/api/ps")] = lambda b: httpx.Response(200, json={"models": models[:1]})
    daemon.routes[("POST", "/api/show")] = _show_ok
    listed = corral("list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == models
    assert json.loads(corral("ls", "SMOL", "--json").stdout) == models[:1]
    assert json.loads(corral("ps", "--json").stdout) == models[:1]
    shown = corral("show", "m", "--json")
    assert json.loads(shown.stdout)["capabilities"] == ["completion"]
    both = corral("show", "m", "--json", "--license")
    assert both.exit_code == 2 and "--json cannot be combined with --license" in both.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_checked_in_script(corral: Invoker, shell: str) -> None:
    from corral.cli.regenerate import COMPLETION_FILES

    result = corral("completion", shell)
    assert result.exit_code == 0
    root = Path(__file__).resolve().parents[2]
    assert result.stdout == (root / "completions" / COMPLETION_FILES[shell]).read_text()


def test_completion_rejects_an_unknown_shell(corral: Invoker) -> None:
    result = corral("completion", "tcsh")
    assert result.exit_code == 2 and "'tcsh' is not one of" in result.stderr


def test_history_search_and_list(corral: Invoker, tmp_path: Path) -> None:
    with SessionStore() as store:
        sid = store.create("smollm2:135m")
        store.append(
            sid,
            [StoredMessage("user", "why is the sky blue"), StoredMessage("assistant", "light")],
        )
    found = corral("history", "search", "sky")
    assert found.exit_code == 0, found.output
    header, row = found.stdout.splitlines()
    assert header.split() == ["SESSION", "MODEL", "ROLE", "MATCH"]
    assert row.split()[:3] == [str(sid), "smollm2:135m", "user"] and "[sky]" in row
    missing = corral("history", "search", "volcano")
    assert missing.exit_code == 1 and "No saved message matches 'volcano'" in missing.stderr
    assert corral("history", "search").exit_code == 2
    listed = corral("history", "list")
    assert "why is the sky blue" in listed.stdout

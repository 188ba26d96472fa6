"""The click commands, black-box, against a scripted daemon (no real daemon or model)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.cli.conftest import FakeDaemon, Invoker, error, ndjson

DIGEST = "9077e0aa71d5b6e0c0b5b1b9f2f7c0b2a4d6e8f0a1b2c3d4e5f6a7b8c9d0e1f2"


def answer(*pieces: str, **final: Any) -> httpx.Response:
    chunks = [{"response": p, "done": False} for p in pieces]
    return ndjson(*chunks, {"response": "", "done": True, "done_reason": "stop", **final})


def show_ok(body: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"details": {"family": "llama"}, "capabilities": ["completion"]}
    )


# -- list / ps / show / cp / rm ---------------------------------------------------------------


def test_list_prints_the_table(corral: Invoker, daemon: FakeDaemon) -> None:
    modified = (datetime.now(UTC) - timedelta(days=3, minutes=1)).isoformat()
    models = [
        {"name": "smollm2:135m", "digest": DIGEST, "size": 98_304_000, "modified_at": modified}
    ]
    daemon.routes[("GET", "/api/tags")] = lambda b: httpx.Response(200, json={"models": models})
    for command in ("list", "ls"):
        result = corral(command)
        assert result.exit_code == 0
        assert result.stdout.splitlines() == [
            "NAME            ID              SIZE     MODIFIED",
            "smollm2:135m    9077e0aa71d5    98 MB    3 days ago",
        ]
    assert corral("ls", "other").stdout.splitlines() == ["NAME    ID    SIZE    MODIFIED"]


def test_ps_prints_the_table(corral: Invoker, daemon: FakeDaemon) -> None:
    expires = (datetime.now(UTC) + timedelta(days=365 * 200)).isoformat()
    models = [
        {
            "name": "m:latest",
            "digest": DIGEST,
            "size": 2_000_000_000,
            "size_vram": 2_000_000_000,
            "context_length": 8192,
            "expires_at": expires,
        }
    ]
    daemon.routes[("GET", "/api/ps")] = lambda b: httpx.Response(200, json={"models": models})
    result = corral("ps")
    assert result.exit_code == 0
    assert re.split(r" {2,}", result.stdout.splitlines()[1]) == [
        "m:latest",
        "9077e0aa71d5",
        "2 GB",
        "100% GPU",
        "8192",
        "Forever",
    ]


def test_show_default_and_single_fields(corral: Invoker, daemon: FakeDaemon) -> None:
    info = {
        "details": {"family": "llama", "parameter_size": "135M", "quantization_level": "Q4_1"},
        "modelfile": "FROM /blobs/x\nTEMPLATE {{ .Prompt }}",
        "template": "{{ .Prompt }}",
        "license": ["MIT", "Apache"],
    }
    daemon.routes[("POST", "/api/show")] = lambda b: httpx.Response(200, json=info)
    result = corral("show", "m")
    assert result.exit_code == 0
    assert result.stdout.startswith("  Model\n    architecture    llama\n")
    assert corral("show", "m", "--modelfile").stdout == info["modelfile"] + "\n"
    assert corral("show", "m", "--template").stdout == "{{ .Prompt }}"
    assert corral("show", "m", "--license").stdout == "MIT\nApache\n"
    assert daemon.calls("POST", "/api/show")[0] == {"model": "m"}


def test_show_rejects_two_field_flags_before_asking_the_daemon(
    corral: Invoker, daemon: FakeDaemon
) -> None:
    result = corral("show", "m", "--license", "--template")
    assert result.exit_code == 2
    assert (
        "only one of '--license', '--modelfile', '--parameters', '--system', or '--template' "
        "can be specified" in result.stderr
    )
    assert daemon.calls("POST", "/api/show") == []


def test_show_unknown_model_is_one_error_line(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = lambda b: error(
        404, "model 'nope' not found", "model_not_found"
    )
    result = corral("show", "nope")
    assert result.exit_code == 1
    assert result.stderr == "Error: model 'nope' not found\n"
    assert result.stdout == ""


def test_cp(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/copy")] = lambda b: httpx.Response(200)
    result = corral("cp", "a", "b")
    assert (result.exit_code, result.stdout) == (0, "copied 'a' to 'b'\n")
    assert daemon.calls("POST", "/api/copy") == [{"source": "a", "destination": "b"}]


def test_rm_unloads_then_deletes_each_model(corral: Invoker, daemon: FakeDaemon) -> None:
    def generate(body: dict[str, Any]) -> httpx.Response:
        if body["model"] == "ghost":
            return error(404, "model 'ghost' not found", "model_not_found")
        return ndjson({"response": "", "done": True, "done_reason": "unload"})

    daemon.routes[("POST", "/api/generate")] = generate
    daemon.routes[("DELETE", "/api/delete")] = lambda b: httpx.Response(200)
    result = corral("rm", "a", "ghost")
    assert result.exit_code == 0
    assert result.stdout == "deleted 'a'\ndeleted 'ghost'\n"
    assert result.stderr == ""
    assert [b["keep_alive"] for b in daemon.calls("POST", "/api/generate")] == [0, 0]
    assert daemon.calls("DELETE", "/api/delete") == [{"model": "a"}, {"model": "ghost"}]


def test_rm_warns_when_unloading_fails_and_errors_when_delete_fails(
    corral: Invoker, daemon: FakeDaemon
) -> None:
    daemon.routes[("POST", "/api/generate")] = lambda b: error(500, "runner busy")
    daemon.routes[("DELETE", "/api/delete")] = lambda b: error(404, "model 'a' not found")
    result = corral("rm", "a")
    assert result.exit_code == 1
    assert result.stderr == "Warning: unable to stop model 'a'\nError: model 'a' not found\n"


# -- stop / pull --------------------------------------------------------------------------------


def test_stop(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/generate")] = lambda b: ndjson(
        {"done": True, "done_reason": "unload"}
    )
    assert corral("stop", "m").exit_code == 0
    assert daemon.calls("POST", "/api/generate") == [
        {"model": "m", "prompt": "", "stream": True, "keep_alive": 0}
    ]


def test_stop_unknown_model(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/generate")] = lambda b: error(404, "model 'm' not found")
    result = corral("stop", "m")
    assert result.exit_code == 1
    assert result.stderr == 'Error: couldn\'t find model "m" to stop\n'


def test_pull_prints_status_lines_without_escape_codes_when_not_a_tty(
    corral: Invoker, daemon: FakeDaemon
) -> None:
    digest = "sha256:" + DIGEST
    daemon.routes[("POST", "/api/pull")] = lambda b: ndjson(
        {"status": "pulling manifest"},
        {"status": "pulling 9077e0aa71d5", "digest": digest, "total": 1000},
        {"status": "pulling 9077e0aa71d5", "digest": digest, "total": 1000, "completed": 500},
        {"status": "pulling 9077e0aa71d5", "digest": digest, "total": 1000, "completed": 1000},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    )
    result = corral("pull", "m", "--insecure")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        "pulling manifest\npulling 9077e0aa71d5 (1 KB)\nverifying sha256 digest\n"
        "writing manifest\nsuccess\n"
    )
    assert "\x1b" not in result.output
    assert daemon.calls("POST", "/api/pull") == [{"model": "m", "stream": True, "insecure": True}]


def test_pull_failure_mid_stream(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/pull")] = lambda b: ndjson(
        {"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}
    )
    result = corral("pull", "nope")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: pull model manifest: file does not exist"


# -- run ----------------------------------------------------------------------------------------


def test_run_one_shot_prints_only_the_answer(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = show_ok
    daemon.routes[("POST", "/api/generate")] = lambda b: answer("The sky ", "is blue.")
    result = corral("run", "m", "Why", "is", "the", "sky", "blue?")
    assert result.exit_code == 0
    assert result.stdout == "The sky is blue.\n"
    assert result.stderr == ""
    (body,) = daemon.calls("POST", "/api/generate")
    assert body == {"model": "m", "prompt": "Why is the sky blue?", "stream": True}


def test_run_puts_piped_input_first_then_the_prompt(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = show_ok
    daemon.routes[("POST", "/api/generate")] = lambda b: answer("ok")
    result = corral("run", "m", "Summarize", "this.", input="line one\nline two\n")
    assert result.exit_code == 0
    assert (
        daemon.calls("POST", "/api/generate")[0]["prompt"]
        == "line one\nline two\n\nSummarize this."
    )


def test_run_options_reach_the_request(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = show_ok
    daemon.routes[("POST", "/api/generate")] = lambda b: answer("{}")
    args = [
        "run",
        "m",
        "hi",
        "--format",
        "json",
        "--keepalive",
        "10m",
        "--system",
        "terse",
        "--nothink",
    ]
    assert corral(*args).exit_code == 0
    body = daemon.calls("POST", "/api/generate")[0]
    assert (body["format"], body["keep_alive"], body["system"], body["think"]) == (
        "json",
        "10m",
        "terse",
        False,
    )


def test_run_thinking_goes_to_stderr_when_piped(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = show_ok
    daemon.routes[("POST", "/api/generate")] = lambda b: ndjson(
        {"thinking": "hmm", "response": "", "done": False},
        {"response": "42", "done": False},
        {"response": "", "done": True},
    )
    result = corral("run", "m", "q")
    assert (result.stdout, result.stderr) == ("42\n", "hmm\n")
    assert corral("run", "m", "q", "--hidethinking").stderr == ""


def test_run_verbose_prints_stats_on_stderr(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = show_ok
    daemon.routes[("POST", "/api/generate")] = lambda b: answer(
        "hi", eval_count=4, eval_duration=2_000_000_000
    )
    result = corral("run", "m", "hello", "--verbose")
    assert result.stdout == "hi\n"
    assert "eval count:           4 token(s)\n" in result.stderr
    assert "eval rate:            2.00 tokens/s\n" in result.stderr


def test_run_pulls_a_missing_model_first(corral: Invoker, daemon: FakeDaemon) -> None:
    shows = iter([error(404, "model 'm' not found", "model_not_found"), show_ok({})])
    daemon.routes[("POST", "/api/show")] = lambda b: next(shows)
    daemon.routes[("POST", "/api/pull")] = lambda b: ndjson(
        {"status": "pulling manifest"}, {"status": "success"}
    )
    daemon.routes[("POST", "/api/generate")] = lambda b: answer("hello")
    result = corral("run", "m", "hi")
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    # stderr is not a terminal here: the pull happens, but quietly.
    assert result.stderr == ""
    assert len(daemon.calls("POST", "/api/pull")) == 1


def test_run_unknown_model_that_cannot_be_pulled(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = lambda b: error(
        404, "model 'nope' not found", "model_not_found"
    )
    daemon.routes[("POST", "/api/pull")] = lambda b: error(
        404, "model 'nope' not found in the catalog or any registry", "model_not_found"
    )
    result = corral("run", "nope", "hi")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "Error: model 'nope' not found in the catalog or any registry\n"
    assert daemon.calls("POST", "/api/generate") == []


def test_run_error_mid_answer_keeps_the_partial_answer(corral: Invoker, daemon: FakeDaemon) -> None:
    daemon.routes[("POST", "/api/show")] = show_ok
    daemon.routes[("POST", "/api/generate")] = lambda b: ndjson(
        {"response": "par", "done": False}, {"error": "runner crashed", "code": "runner_crashed"}
    )
    result = corral("run", "m", "hi")
    assert result.exit_code == 1
    assert result.stdout == "par"
    assert result.stderr == "Error: runner crashed\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "yaml"], 'expected "json" or a JSON schema object'),
        (["--keepalive", "soon"], "expected a duration"),
    ],
)
def test_run_bad_option_values_are_usage_errors(
    corral: Invoker, daemon: FakeDaemon, args: list[str], message: str
) -> None:
    result = corral("run", "m", "hi", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert daemon.requests == []


def test_run_ctrl_c_exits_130(corral: Invoker, daemon: FakeDaemon) -> None:
    def interrupt(body: Any) -> httpx.Response:
        raise KeyboardInterrupt

    daemon.routes[("POST", "/api/show")] = show_ok
    daemon.routes[("POST", "/api/generate")] = interrupt
    assert corral("run", "m", "hi").exit_code == 130


# -- the boundary --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["cp", "only-one"], ["nosuchcommand"], ["list", "--bogus"], ["rm"]]
)
def test_usage_errors_exit_2(corral: Invoker, args: list[str]) -> None:
    assert corral(*args).exit_code == 2


def test_unexpected_exception_is_one_line_without_debug(
    corral: Invoker, daemon: FakeDaemon
) -> None:
    def broken(body: Any) -> httpx.Response:
        raise RuntimeError("kaboom")

    daemon.routes[("GET", "/api/tags")] = broken
    result = corral("list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unexpected RuntimeError: kaboom")
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands(corral: Invoker) -> None:
    result = corral("--help")
    assert result.exit_code == 0
    for name in ("run", "pull", "list", "ps", "show", "rm", "cp", "create", "stop"):
        assert f"  {name} " in result.stdout

"""`corral create`: client-side Modelfile errors, local file uploads, and the request sent."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import FakeDaemon, Invoker, ndjson

SUCCESS = [{"status": "using existing layer sha256:" + "1" * 64}, {"status": "writing manifest"}]


@pytest.fixture
def create_daemon(daemon: FakeDaemon) -> FakeDaemon:
    daemon.routes[("POST", "/api/create")] = lambda body: ndjson(*SUCCESS, {"status": "success"})
    return daemon


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_modelfile_syntax_error_is_one_line_and_sends_nothing(
    corral: Invoker, daemon: FakeDaemon, tmp_path: Path
) -> None:
    modelfile = write(tmp_path / "Modelfile", "FROM base\nFORM typo\n")
    result = corral("create", "m", "-f", str(modelfile))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f'Error: {modelfile}:2: unknown instruction "FORM"')
    assert daemon.requests == []


def test_missing_modelfile(corral: Invoker, daemon: FakeDaemon, tmp_path: Path) -> None:
    result = corral("create", "m", "-f", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot read Modelfile")
    assert len(result.stderr.splitlines()) == 1
    assert daemon.requests == []


def test_from_a_model_name_sends_the_fields(
    corral: Invoker, create_daemon: FakeDaemon, tmp_path: Path
) -> None:
    modelfile = write(
        tmp_path / "Modelfile",
        'FROM smollm2:135m\nPARAMETER temperature 0.5\nPARAMETER stop "<a>"\nPARAMETER stop "<b>"\n'
        'SYSTEM """Be terse."""\nTEMPLATE {{ .Prompt }}\nMESSAGE user hi\nMESSAGE assistant hello\n'
        "LICENSE MIT\n",
    )
    result = corral("create", "mine", "-f", str(modelfile))
    assert result.exit_code == 0, result.output
    assert create_daemon.calls("POST", "/api/create") == [
        {
            "model": "mine",
            "from": "smollm2:135m",
            "template": "{{ .Prompt }}",
            "system": "Be terse.",
            "parameters": {"temperature": 0.5, "stop": ["<a>", "<b>"]},
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
            ],
            "license": ["MIT"],
            "stream": True,
        }
    ]
    assert result.stderr.splitlines() == [
        "gathering model components",
        SUCCESS[0]["status"],
        "writing manifest",
        "success",
    ]
    assert result.stdout == ""
    assert not any(
        method == "POST" and "/api/blobs/" in path for method, path, _ in create_daemon.requests
    )


def blob_routes(daemon: FakeDaemon, present: set[str]) -> dict[str, bytes]:
    uploads: dict[str, bytes] = {}

    original = daemon.handle

    def routed(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/api/blobs/"):
            digest = path.removeprefix("/api/blobs/")
            daemon.requests.append((request.method, path, None))
            if request.method == "HEAD":
                return httpx.Response(200 if digest in present or digest in uploads else 404)
            uploads[digest] = request.read()
            return httpx.Response(201)
        return original(request)

    daemon.handle = routed  # type: ignore[method-assign]
    return uploads


def test_from_a_relative_gguf_uploads_it_and_sends_its_digest(
    corral: Invoker, create_daemon: FakeDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = b"GGUF" + b"\x00" * 5000
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.gguf").write_bytes(weights)
    modelfile = write(tmp_path / "models" / "Modelfile", "FROM ./tiny.gguf\n")
    monkeypatch.chdir(tmp_path)  # the path is relative to the Modelfile, not the cwd
    uploads = blob_routes(create_daemon, present=set())
    result = corral("create", "tiny", "-f", str(modelfile))
    assert result.exit_code == 0, result.output
    digest = "sha256:" + hashlib.sha256(weights).hexdigest()
    assert uploads == {digest: weights}
    (body,) = create_daemon.calls("POST", "/api/create")
    assert body == {"model": "tiny", "files": {"tiny.gguf": digest}, "stream": True}
    assert f"copying file {digest[:19]}" in result.stderr
    assert "\x1b" not in result.output


def test_from_a_directory_with_one_gguf_reuses_an_existing_blob(
    corral: Invoker, create_daemon: FakeDaemon, tmp_path: Path
) -> None:
    weights = b"GGUF-weights"
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "model.gguf").write_bytes(weights)
    (tmp_path / "dir" / "README.md").write_text("not a model")
    digest = "sha256:" + hashlib.sha256(weights).hexdigest()
    uploads = blob_routes(create_daemon, present={digest})
    modelfile = write(tmp_path / "Modelfile", f"FROM {tmp_path / 'dir'}\nADAPTER dir/model.gguf\n")
    result = corral("create", "m", "-f", str(modelfile))
    assert result.exit_code == 0, result.output
    assert uploads == {}
    (body,) = create_daemon.calls("POST", "/api/create")
    assert body["files"] == {"model.gguf": digest}
    assert body["adapters"] == {"model.gguf": digest}


@pytest.mark.parametrize(
    ("setup", "from_line", "message"),
    [
        (lambda d: None, "FROM ./missing.gguf", "FROM path './missing.gguf' does not exist"),
        (
            lambda d: [(d / n).write_bytes(b"x") for n in ("a.gguf", "b.gguf")],
            "FROM .",
            "FROM directory '.' holds 2 .gguf files; it must hold exactly one",
        ),
        (
            lambda d: None,
            "FROM base\nADAPTER ./lora.gguf",
            "ADAPTER path './lora.gguf' does not exist",
        ),
    ],
)
def test_bad_local_paths_are_one_error_line(
    corral: Invoker,
    create_daemon: FakeDaemon,
    tmp_path: Path,
    setup: Any,
    from_line: str,
    message: str,
) -> None:
    setup(tmp_path)
    modelfile = write(tmp_path / "Modelfile", from_line + "\n")
    result = corral("create", "m", "-f", str(modelfile))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert create_daemon.calls("POST", "/api/create") == []


def test_create_error_from_the_daemon(corral: Invoker, daemon: FakeDaemon, tmp_path: Path) -> None:
    daemon.routes[("POST", "/api/create")] = lambda body: ndjson(
        {"status": "gathering model components"},
        {"error": "invalid model name", "code": "invalid_model_name"},
    )
    modelfile = write(tmp_path / "Modelfile", "FROM base\n")
    result = corral("create", "bad name", "-f", str(modelfile))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: invalid model name"


def test_default_modelfile_is_in_the_current_directory(
    corral: Invoker, create_daemon: FakeDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "Modelfile", "FROM base\n")
    monkeypatch.chdir(tmp_path)
    assert corral("create", "m").exit_code == 0
    assert create_daemon.calls("POST", "/api/create")[0]["from"] == "base"

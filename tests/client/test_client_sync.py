"""`corral.client.Client` against httpx.MockTransport and a closed port."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.client import Client
from corral.errors import (
    CorralError,
    DaemonUnavailable,
    DigestMismatch,
    InvalidDigest,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    ProtocolError,
    QueueFull,
    RunnerCrashed,
)

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler) -> Client:
    return Client("127.0.0.1:11434", transport=httpx.MockTransport(handler))


def ndjson(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_list_sends_get_tags_and_returns_the_object() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"models": [{"name": "a:latest"}]})

    assert make_client(handler).list() == {"models": [{"name": "a:latest"}]}
    assert seen[0].method == "GET"
    assert seen[0].url == "http://127.0.0.1:11434/api/tags"
    assert seen[0].headers["user-agent"].startswith("corral/")


def test_api_key_is_sent_as_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_API_KEY", "s3cret")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"models": []})

    make_client(handler).ps()
    assert seen[0].headers["authorization"] == "Bearer s3cret"


def test_no_authorization_header_without_api_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"models": []})

    make_client(handler).ps()
    assert "authorization" not in seen[0].headers


def test_host_defaults_to_corral_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_HOST", "http://10.1.2.3:9999")
    assert Client().base_url == "http://10.1.2.3:9999"
    assert Client(":8080").base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (
            404,
            {"error": "model 'x' not found", "code": "model_not_found"},
            ModelNotFound,
            "model 'x' not found",
        ),
        (404, {"error": "model 'x' not found"}, NotFound, "model 'x' not found"),
        (400, {"error": "bad digest", "code": "digest_mismatch"}, DigestMismatch, "bad digest"),
        (503, {"error": "server busy"}, QueueFull, "server busy"),
        (400, {"error": {"message": "openai style", "type": "x"}}, InvalidRequest, "openai style"),
        (500, {"error": "boom", "code": "no_such_code"}, CorralError, "boom"),
    ],
)
def test_error_answers_become_the_error_their_code_names(
    status: int, body: dict[str, Any], cls: type[CorralError], message: str
) -> None:
    client = make_client(lambda request: httpx.Response(status, json=body))
    with pytest.raises(cls) as info:
        client.show("x")
    assert type(info.value) is cls
    assert str(info.value) == message


def test_non_json_error_answer_is_a_protocol_error_naming_the_status() -> None:
    client = make_client(lambda request: httpx.Response(404, text="404 page not found"))
    with pytest.raises(ProtocolError, match=r"HTTP 404: '404 page not found'"):
        client.list()


def test_empty_error_answer_keeps_its_status_class() -> None:
    client = make_client(lambda request: httpx.Response(404))
    with pytest.raises(NotFound, match="HTTP 404"):
        client.delete("m")


def test_undecodable_success_body_is_a_protocol_error() -> None:
    client = make_client(lambda request: httpx.Response(200, text="<html>hi</html>"))
    with pytest.raises(ProtocolError, match="not JSON"):
        client.list()
    client = make_client(lambda request: httpx.Response(200, json=[1, 2]))
    with pytest.raises(ProtocolError, match="not an object"):
        client.list()


def test_connection_refused_is_daemon_unavailable() -> None:
    port = closed_port()
    client = Client(f"127.0.0.1:{port}")
    with pytest.raises(DaemonUnavailable) as info:
        client.list()
    assert str(info.value) == (
        f"could not connect to corral at http://127.0.0.1:{port}; is 'corral serve' running?"
    )
    assert client.heartbeat() is False


def test_connection_refused_while_streaming_is_daemon_unavailable() -> None:
    client = Client(f"127.0.0.1:{closed_port()}")
    with pytest.raises(DaemonUnavailable, match="is 'corral serve' running"):
        list(client.generate("m", "hi"))


def test_read_timeout_is_daemon_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(DaemonUnavailable, match="did not answer in time"):
        make_client(handler).ps()


def test_heartbeat() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, text="corral is running")

    assert make_client(handler).heartbeat() is True
    assert seen == ["HEAD /"]
    assert make_client(lambda r: httpx.Response(500)).heartbeat() is False


def test_version() -> None:
    client = make_client(lambda r: httpx.Response(200, json={"version": "1.2.3"}))
    assert client.version() == "1.2.3"
    client = make_client(lambda r: httpx.Response(200, json={"version": 3}))
    with pytest.raises(ProtocolError):
        client.version()


def test_generate_streams_objects_and_sends_only_set_fields() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200,
            content=ndjson(
                {"response": "Hel", "done": False},
                {"response": "lo", "done": False},
                {"response": "", "done": True, "eval_count": 2},
            ),
            headers={"content-type": "application/x-ndjson"},
        )

    chunks = list(
        make_client(handler).generate(
            "m", "hi", system="be brief", keep_alive=0, options={"seed": 1}, images=[b"\x00\x01"]
        )
    )
    assert [c["response"] for c in chunks] == ["Hel", "lo", ""]
    assert chunks[-1]["eval_count"] == 2
    assert bodies == [
        {
            "model": "m",
            "prompt": "hi",
            "stream": True,
            "system": "be brief",
            "keep_alive": 0,
            "options": {"seed": 1},
            "images": ["AAE="],
        }
    ]


def test_mid_stream_error_line_is_raised_from_the_iterator() -> None:
    body = ndjson(
        {"response": "partial", "done": False},
        {"error": "runner died", "code": "runner_crashed"},
    )
    chunks = make_client(lambda r: httpx.Response(200, content=body)).generate("m", "hi")
    first = next(chunks)
    assert first["response"] == "partial"
    with pytest.raises(RunnerCrashed, match="runner died"):
        next(chunks)


def test_stream_error_status_before_streaming_is_raised() -> None:
    client = make_client(
        lambda r: httpx.Response(
            404, json={"error": "model 'm' not found", "code": "model_not_found"}
        )
    )
    with pytest.raises(ModelNotFound, match="model 'm' not found"):
        list(client.chat("m", [{"role": "user", "content": "hi"}]))


def test_stream_line_that_is_not_json_is_a_protocol_error() -> None:
    client = make_client(lambda r: httpx.Response(200, content=b'{"done": false}\nnot json\n'))
    with pytest.raises(ProtocolError, match="not JSON"):
        list(client.generate("m", "hi"))


def test_generate_stream_cut_off_before_done_is_a_protocol_error() -> None:
    client = make_client(
        lambda r: httpx.Response(200, content=ndjson({"response": "a", "done": False}))
    )
    with pytest.raises(ProtocolError, match="ended before the model finished"):
        list(client.generate("m", "hi"))


def test_pull_stream_needs_no_done_marker_and_sends_insecure() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200, content=ndjson({"status": "pulling manifest"}, {"status": "success"})
        )

    events = list(make_client(handler).pull("m", insecure=True))
    assert [e["status"] for e in events] == ["pulling manifest", "success"]
    assert bodies == [{"model": "m", "stream": True, "insecure": True}]


def test_chat_body() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, content=ndjson({"message": {"content": "x"}, "done": True}))

    list(
        make_client(handler).chat(
            "m", [{"role": "user", "content": "hi"}], think=False, format="json"
        )
    )
    assert bodies == [
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "think": False,
            "format": "json",
        }
    ]


def test_create_maps_from_and_drops_none() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, content=ndjson({"status": "success"}))

    list(
        make_client(handler).create(
            "new", from_="base:latest", system=None, template="{{ .Prompt }}"
        )
    )
    assert bodies == [
        {"model": "new", "from": "base:latest", "template": "{{ .Prompt }}", "stream": True}
    ]


def test_delete_and_copy_requests() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(200)

    client = make_client(handler)
    client.delete("a")
    client.copy("a", "b")
    assert seen == [
        ("DELETE", "/api/delete", {"model": "a"}),
        ("POST", "/api/copy", {"source": "a", "destination": "b"}),
    ]


DIGEST = "sha256:" + "ab" * 32


def test_blob_exists() -> None:
    statuses = iter([200, 404])
    client = make_client(lambda r: httpx.Response(next(statuses)))
    assert client.blob_exists(DIGEST) is True
    assert client.blob_exists(DIGEST) is False


def test_blob_digest_is_validated_before_sending() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing should be sent")

    client = make_client(handler)
    for bad in ["sha256:ABC", "../../etc/passwd", "sha256:" + "g" * 64, ""]:
        with pytest.raises(InvalidDigest, match="invalid digest"):
            client.blob_exists(bad)


def test_upload_blob_sends_the_file_and_reports_progress(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    data = b"x" * (3 * 1024 * 1024 + 5)
    path.write_bytes(data)
    received: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request.read())
        assert request.url.path == f"/api/blobs/{DIGEST}"
        assert request.headers["content-length"] == str(len(data))
        return httpx.Response(201)

    progress: list[int] = []
    make_client(handler).upload_blob(DIGEST, path, progress.append)
    assert received == [data]
    assert progress[-1] == len(data)
    assert progress == sorted(progress)


def test_upload_blob_mismatch_is_raised(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    client = make_client(
        lambda r: httpx.Response(400, json={"error": "digest mismatch", "code": "digest_mismatch"})
    )
    with pytest.raises(DigestMismatch):
        client.upload_blob(DIGEST, path)


def test_upload_blob_missing_file_names_it(tmp_path: Path) -> None:
    client = make_client(lambda r: httpx.Response(201))
    with pytest.raises(InvalidRequest, match=r"missing\.gguf"):
        client.upload_blob(DIGEST, tmp_path / "missing.gguf")

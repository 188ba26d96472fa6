"""Browser and network safety on a real daemon: API key, CORS, Host check, body size."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from corral.client import Client
from tests.integration.conftest import CATALOG_MODEL, Daemon, start_daemon

pytestmark = pytest.mark.integration

KEY = "s3cret-token"
LIMIT = 64 * 1024
EXTRA_ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, seeded_models: tuple[Path, list[dict[str, object]]]
) -> Iterator[Daemon]:
    """A daemon with CORRAL_API_KEY, a small CORRAL_MAX_BODY and one extra origin."""
    root = tmp_path_factory.mktemp("guarded")
    running = start_daemon(
        root / "home",
        seeded_models[0],
        CORRAL_API_KEY=KEY,
        CORRAL_MAX_BODY=str(LIMIT),
        CORRAL_ORIGINS=f"{EXTRA_ORIGIN},chrome-extension://*",
    )
    yield running
    running.stop()


AUTH = {"Authorization": f"Bearer {KEY}"}


# --- API key ----------------------------------------------------------------------------


def test_root_needs_no_key(guarded: Daemon) -> None:
    assert httpx.get(guarded.url).status_code == 200
    assert httpx.head(guarded.url).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"x-api-key": "no"}])
def test_native_routes_need_the_key(guarded: Daemon, headers: dict[str, str]) -> None:
    response = httpx.get(f"{guarded.url}/api/tags", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert "API key" in response.json()["error"]
    assert KEY not in response.text


def test_every_route_checks_the_key_before_doing_anything(guarded: Daemon) -> None:
    response = httpx.request("DELETE", f"{guarded.url}/api/delete", json={"model": CATALOG_MODEL})
    assert response.status_code == 401
    # The model is still there.
    tags = httpx.get(f"{guarded.url}/api/tags", headers=AUTH).json()["models"]
    assert CATALOG_MODEL in [m["name"] for m in tags]
    for method, path in [("POST", "/api/pull"), ("GET", "/api/version"), ("GET", "/api/ps")]:
        assert httpx.request(method, f"{guarded.url}{path}").status_code == 401


@pytest.mark.parametrize("headers", [AUTH, {"x-api-key": KEY}, {"authorization": f"bearer {KEY}"}])
def test_the_right_key_in_either_header_is_accepted(
    guarded: Daemon, headers: dict[str, str]
) -> None:
    assert httpx.get(f"{guarded.url}/api/tags", headers=headers).status_code == 200


def test_openai_package_with_wrong_and_right_key(guarded: Daemon) -> None:
    wrong = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        wrong.models.list()
    assert info.value.body["code"] == "invalid_api_key"
    assert info.value.body["type"] == "invalid_request_error"
    right = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key=KEY, max_retries=0)
    assert CATALOG_MODEL in [m.id for m in right.models.list()]


async def test_async_openai_package_with_wrong_key(guarded: Daemon) -> None:
    wrong = openai.AsyncOpenAI(base_url=f"{guarded.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await wrong.chat.completions.create(
            model=CATALOG_MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    await wrong.close()


def test_anthropic_package_with_wrong_and_right_key(guarded: Daemon) -> None:
    wrong = anthropic.Anthropic(base_url=guarded.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        wrong.messages.count_tokens(
            model=CATALOG_MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.body["error"]["type"] == "authentication_error"
    right = anthropic.Anthropic(base_url=guarded.url, api_key=KEY, max_retries=0)
    counted = right.messages.count_tokens(
        model=CATALOG_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert counted.input_tokens > 0


def test_corral_client_sends_the_key(guarded: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_API_KEY", KEY)
    with Client(guarded.host) as client:
        assert CATALOG_MODEL in [m["name"] for m in client.list()["models"]]


def _cli(daemon: Daemon, *args: str, key: str | None) -> subprocess.CompletedProcess[str]:
    env = daemon.env()
    env.pop("CORRAL_API_KEY", None)
    if key is not None:
        env["CORRAL_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "corral", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_cli_works_with_the_key_and_fails_clearly_without(guarded: Daemon) -> None:
    ok = _cli(guarded, "list", key=KEY)
    assert ok.returncode == 0, ok.stderr
    assert CATALOG_MODEL in ok.stdout
    refused = _cli(guarded, "list", key=None)
    assert refused.returncode == 1
    assert "API key" in refused.stderr and refused.stdout == ""


# --- CORS -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost.evil.example"]
)
def test_disallowed_origins_get_403(guarded: Daemon, origin: str) -> None:
    response = httpx.get(f"{guarded.url}/api/tags", headers={**AUTH, "Origin": origin})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert origin in response.json()["error"]


def test_disallowed_origin_gets_each_apis_error_shape(guarded: Daemon) -> None:
    headers = {**AUTH, "Origin": "https://evil.example"}
    body = {"model": CATALOG_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    openai_error = httpx.post(f"{guarded.url}/v1/chat/completions", json=body, headers=headers)
    assert openai_error.status_code == 403
    assert openai_error.json()["error"]["type"] == "permission_error"
    anthropic_error = httpx.post(
        f"{guarded.url}/v1/messages", json={**body, "max_tokens": 1}, headers=headers
    )
    assert anthropic_error.status_code == 403
    assert anthropic_error.json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "tauri://localhost",
        EXTRA_ORIGIN,
        "chrome-extension://abc",
    ],
)
def test_allowed_origins_are_echoed(guarded: Daemon, origin: str) -> None:
    response = httpx.get(f"{guarded.url}/api/tags", headers={**AUTH, "Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Vary"] == "Origin"


def test_errors_to_an_allowed_origin_carry_cors_headers(guarded: Daemon) -> None:
    response = httpx.get(f"{guarded.url}/api/tags", headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_preflight_needs_no_key(guarded: Daemon) -> None:
    response = httpx.options(
        f"{guarded.url}/v1/chat/completions",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "x-api-key" in allowed and "x-stainless-os" in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    refused = httpx.options(f"{guarded.url}/api/chat", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403


def test_wildcard_origin_allows_all(
    make_daemon, seeded_models: tuple[Path, list[dict[str, object]]]
) -> None:
    open_daemon = make_daemon(seeded_models[0], CORRAL_ORIGINS="*")
    response = httpx.get(f"{open_daemon.url}/api/tags", headers={"Origin": "https://any.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# --- Host check (DNS rebinding) -----------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["localhost:11434", "127.0.0.1:11434", "[::1]:11434", "foo.localhost", "box.local"]
)
def test_local_host_headers_pass(guarded: Daemon, host: str) -> None:
    assert httpx.get(f"{guarded.url}/api/tags", headers={**AUTH, "Host": host}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example:11434"},
        {"Host": "evil.example"},
        {"Host": "evil.example", "Origin": "http://evil.example"},
    ],
)
def test_rebound_host_headers_get_403(guarded: Daemon, headers: dict[str, str]) -> None:
    response = httpx.get(f"{guarded.url}/api/tags", headers={**AUTH, **headers})
    assert response.status_code == 403
    assert "evil.example" in response.json()["error"]
    # Checked before the key: a rebinding page learns nothing about the token either.
    assert httpx.get(f"{guarded.url}/api/tags", headers=headers).status_code == 403


# --- body size ----------------------------------------------------------------------------


def _big_chat(limit: int) -> bytes:
    return (
        b'{"model": "smollm2:135m", "messages": [{"role": "user", "content": "'
        + (b"a" * (limit + 10))
        + b'"}]}'
    )


@pytest.mark.parametrize(
    ("path", "check"),
    [
        ("/api/chat", lambda body: "CORRAL_MAX_BODY" in body["error"]),
        ("/v1/chat/completions", lambda body: body["error"]["type"] == "invalid_request_error"),
        ("/v1/messages", lambda body: body["error"]["type"] == "request_too_large"),
    ],
)
def test_oversized_bodies_get_413(guarded: Daemon, path: str, check) -> None:
    response = httpx.post(f"{guarded.url}{path}", content=_big_chat(LIMIT), headers=AUTH)
    assert response.status_code == 413
    assert check(response.json())


def test_oversized_chunked_body_gets_413(guarded: Daemon) -> None:
    def chunks() -> Iterator[bytes]:
        body = _big_chat(LIMIT)
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = httpx.post(f"{guarded.url}/api/chat", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert "larger than the 65536-byte limit" in response.json()["error"]


def test_oversized_body_through_the_sdks(guarded: Daemon) -> None:
    content = "a" * (LIMIT + 10)
    client = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model=CATALOG_MODEL, messages=[{"role": "user", "content": content}]
        )
    assert info.value.status_code == 413
    claude = anthropic.Anthropic(base_url=guarded.url, api_key=KEY, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as error:
        claude.messages.create(
            model=CATALOG_MODEL, max_tokens=1, messages=[{"role": "user", "content": content}]
        )
    assert error.value.status_code == 413


def test_blob_uploads_are_not_bound_by_the_json_limit(guarded: Daemon) -> None:
    data = os.urandom(LIMIT * 3)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = httpx.post(f"{guarded.url}/api/blobs/{digest}", content=data, headers=AUTH)
    assert response.status_code == 201, response.text

"""Origin, Host and token rules of the daemon's guard, as pure functions."""

from __future__ import annotations

import socket

import pytest

from corral.daemon.middleware import dialect_of, error_body
from corral.daemon.security import bearer_token, host_allowed, origin_allowed


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost",
        "https://localhost",
        "http://localhost:3000",
        "https://127.0.0.1:8443",
        "http://0.0.0.0:1",
        "app://obsidian.md",
        "file://",
        "tauri://localhost",
        "vscode-webview://abc",
        "vscode-file://vscode-app",
        "HTTP://LOCALHOST:5173",
    ],
)
def test_default_origins_are_allowed(origin: str) -> None:
    assert origin_allowed(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example",
        "null",
        "chrome-extension://abcdef",
        "",
    ],
)
def test_other_origins_are_refused(origin: str) -> None:
    assert not origin_allowed(origin)


def test_extra_origins_with_wildcards() -> None:
    extra = ["https://app.example.com", "chrome-extension://*", "https://*.corp.example"]
    assert origin_allowed("https://app.example.com", extra)
    assert origin_allowed("chrome-extension://abcdef", extra)
    assert origin_allowed("https://chat.corp.example", extra)
    assert not origin_allowed("https://app.example.com.evil", extra)
    assert not origin_allowed("https://evil.example", extra)
    assert origin_allowed("https://anything.example", ["*"])
    assert origin_allowed("null", ["null"])


def test_same_origin_passes_cors_but_the_host_check_still_applies() -> None:
    assert origin_allowed("http://evil.example:8080", host="evil.example:8080")
    assert not host_allowed("evil.example:8080")


@pytest.mark.parametrize(
    "host",
    [
        "localhost:11434",
        "127.0.0.1:11434",
        "[::1]:11434",
        "foo.localhost",
        "printer.local",
        "db.internal:5432",
        "192.168.1.20:11434",
        "10.0.0.5",
        "0.0.0.0:11434",
        "",
        "LOCALHOST",
    ],
)
def test_local_hosts_are_allowed(host: str) -> None:
    assert host_allowed(host)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:11434",
        "evil.example",
        "8.8.8.8:11434",
        "localhost.evil.example",
        "[2001:4860::1]:80",
    ],
)
def test_remote_hosts_are_refused(host: str) -> None:
    assert not host_allowed(host)


def test_this_machines_hostname_is_allowed() -> None:
    assert host_allowed(f"{socket.gethostname()}:11434")


@pytest.mark.parametrize(
    ("authorization", "api_key", "expected"),
    [
        ("Bearer s3cret", None, "s3cret"),
        ("bearer  s3cret ", None, "s3cret"),
        (None, "s3cret", "s3cret"),
        ("Basic dXNlcg==", "s3cret", "s3cret"),
        ("Basic dXNlcg==", None, ""),
        (None, None, ""),
    ],
)
def test_bearer_token_reads_both_headers(authorization, api_key, expected) -> None:
    assert bearer_token(authorization, api_key) == expected


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/api/chat", "native"),
        ("/", "native"),
        ("/v1/chat/completions", "openai"),
        ("/v1/models/x", "openai"),
        ("/v1/messages", "anthropic"),
        ("/v1/messages/count_tokens", "anthropic"),
    ],
)
def test_dialect_of_path(path: str, dialect: str) -> None:
    assert dialect_of(path) == dialect


def test_error_bodies_per_api() -> None:
    assert error_body("native", 404, "gone", "model_not_found") == {
        "error": "gone",
        "code": "model_not_found",
    }
    assert error_body("openai", 404, "gone", "model_not_found") == {
        "error": {"message": "gone", "type": "not_found_error", "param": None, "code": None}
    }
    assert error_body("openai", 401, "no", "unauthorized")["error"]["code"] == "invalid_api_key"
    assert error_body("anthropic", 401, "no", "unauthorized") == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "no"},
    }
    assert error_body("anthropic", 500, "boom", "internal")["error"]["type"] == "api_error"

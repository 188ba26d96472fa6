"""The registry client's pure parts: names to URLs, challenges, realms, credentials, parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral.errors import ConfigError, InvalidDigest, InvalidRequest, RegistryError
from corral.names import ModelName
from corral.registry.client import (
    Challenge,
    RegistryRef,
    load_credentials,
    origin_of,
    parse_challenge,
    token_url,
)
from corral.registry.client.transport import _non_public
from corral.registry.protocol import MIN_PART_SIZE, parse_content_range, part_size


def test_default_name_resolves_to_ollamas_registry() -> None:
    ref = RegistryRef(ModelName.parse("llama3.2"))
    assert ref.manifest_url() == "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest"
    digest = "sha256:" + "a" * 64
    assert ref.blob_url(digest) == f"https://registry.ollama.ai/v2/library/llama3.2/blobs/{digest}"
    assert ref.upload_url() == "https://registry.ollama.ai/v2/library/llama3.2/blobs/uploads/"


def test_insecure_means_plain_http_and_http_needs_insecure() -> None:
    name = ModelName.parse("127.0.0.1:5000/team/m:v1")
    assert RegistryRef(name, insecure=True).base == "http://127.0.0.1:5000"
    assert RegistryRef(name).base == "https://127.0.0.1:5000"
    with pytest.raises(InvalidRequest, match="insecure protocol http"):
        RegistryRef(ModelName.parse("http://127.0.0.1:5000/team/m:v1"))


def test_blob_urls_refuse_bad_digests() -> None:
    ref = RegistryRef(ModelName.parse("team/m"))
    for bad in ("../../etc/passwd", "sha256:" + "A" * 64, "sha256:" + "a" * 64 + "\n", ""):
        with pytest.raises(InvalidDigest):
            ref.blob_url(bad)


def test_origins_include_default_ports() -> None:
    assert origin_of("https://Registry.Example/v2/") == ("https", "registry.example", 443)
    assert origin_of("http://127.0.0.1:5000/x") == ("http", "127.0.0.1", 5000)
    assert origin_of("http://127.0.0.1:5000/x") != origin_of("http://127.0.0.1:5001/x")


def test_parse_challenge() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"'
    )
    assert parse_challenge(header) == Challenge(
        "https://auth.example/token", "registry", "repository:a/b:pull"
    )
    for bad in ("", 'Basic realm="x"', "Bearer service=x"):
        with pytest.raises(RegistryError):
            parse_challenge(bad)


def test_realm_must_be_on_the_registry_host() -> None:
    registry = origin_of("https://registry.example")
    good = Challenge("https://registry.example/v2/token", "svc", "repository:a/b:pull")
    assert token_url(good, registry, insecure=False) == (
        "https://registry.example/v2/token?service=svc&scope=repository%3Aa%2Fb%3Apull"
    )
    for realm in (
        "https://attacker.example/token",
        "https://registry.example:8443/token",
        "https://registry.example.attacker.example/token",
    ):
        with pytest.raises(RegistryError, match="does not match original host"):
            token_url(Challenge(realm), registry, insecure=False)
    with pytest.raises(RegistryError, match="not an https URL"):
        token_url(Challenge("http://registry.example/token"), registry, insecure=False)


def test_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    assert load_credentials(path) == {}
    path.write_text(json.dumps({"Registry.Example:5000": {"token": "abc"}}))
    assert load_credentials(path) == {"registry.example:5000": "abc"}
    for bad in ("[]", "{not json", json.dumps({"h": {"token": 3}})):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=r"auth\.json"):
            load_credentials(path)


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("169.254.169.254", True),
        ("192.168.1.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
    ],
)
def test_non_public_addresses_are_refused_as_redirect_targets(address: str, blocked: bool) -> None:
    assert _non_public(address) is blocked


def test_part_sizes_follow_ollama() -> None:
    assert part_size(250_000_000) == MIN_PART_SIZE
    assert part_size(32_000_000_000) == 1_000_000_000
    assert part_size(4_000_000_000) == 250_000_000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0-99", (0, 99)),
        ("bytes 100-199/*", (100, 199)),
        ("bytes=5-5", (5, 5)),
        ("9-1", None),
        ("-5", None),
        ("0-99\n", (0, 99)),
        ("a-b", None),
    ],
)
def test_content_range(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_content_range(header) == expected

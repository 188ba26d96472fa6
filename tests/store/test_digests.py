"""Digest validation: only sha256 and 64 lowercase hex digits may ever name a file."""

from __future__ import annotations

import hashlib

import pytest

from corral.errors import InvalidDigest
from corral.store.digests import (
    blob_filename,
    digest_from_filename,
    digest_hex,
    is_digest,
    parse_digest,
    sha256_digest,
)

HEX = hashlib.sha256(b"hello").hexdigest()


@pytest.mark.parametrize("text", [f"sha256:{HEX}", f"sha256-{HEX}"])
def test_both_forms_give_the_colon_form(text: str) -> None:
    assert parse_digest(text) == f"sha256:{HEX}"
    assert is_digest(text)


BAD = [
    "",
    "sha256:",
    f"sha256:{HEX.upper()}",
    f"sha256:{HEX[:-1]}A",
    f"sha256:{HEX[:63]}",
    f"sha256:{HEX}0",
    f"sha256_{HEX}",
    f"SHA256:{HEX}",
    f"sha512:{HEX}",
    f"sha256:{HEX}\n",
    f" sha256:{HEX}",
    f"sha256:{HEX}\x00",
    f"sha256:{HEX[:60]}\x00abc",
    "sha256:../../../../etc/passwd",
    f"sha256-../{HEX[:61]}",
    f"sha256:{HEX[:62]}/x",
    "sha256:" + "g" * 64,
    HEX,
    f"../blobs/sha256-{HEX}",
    f"sha256-{HEX}-partial",
    f"sha256:{'٣' * 64}",  # non-ASCII digits
]


@pytest.mark.parametrize("text", BAD)
def test_anything_else_is_rejected_naming_the_value(text: str) -> None:
    with pytest.raises(InvalidDigest) as info:
        parse_digest(text)
    assert str(info.value) == (
        f'invalid digest "{text}": expected sha256: and 64 lowercase hex digits'
    )
    assert info.value.status == 400
    assert not is_digest(text)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidDigest):
        parse_digest(None)  # type: ignore[arg-type]


def test_long_values_are_shortened_in_the_message() -> None:
    with pytest.raises(InvalidDigest) as info:
        parse_digest("x" * 10_000)
    assert len(str(info.value)) < 300


def test_file_names() -> None:
    assert blob_filename(f"sha256:{HEX}") == f"sha256-{HEX}"
    assert digest_hex(f"sha256-{HEX}") == HEX
    assert digest_from_filename(f"sha256-{HEX}") == f"sha256:{HEX}"
    for stray in [f"sha256-{HEX}-partial", f"sha256-{HEX}-partial-0", "tmp-abc", f"sha256:{HEX}"]:
        assert digest_from_filename(stray) is None
    with pytest.raises(InvalidDigest):
        blob_filename("sha256:../x")


def test_sha256_digest() -> None:
    assert sha256_digest(b"hello") == f"sha256:{HEX}"

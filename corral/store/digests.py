"""Digests: validating `sha256:<hex>` strings and mapping them to blob file names.

Every digest that reaches a path is checked here first: exactly `sha256:` or `sha256-`
followed by 64 lowercase hex digits. Nothing else (uppercase hex, short digests,
`../`, NUL) can name a file.
"""

from __future__ import annotations

import hashlib
import re

from corral.errors import InvalidDigest

__all__ = [
    "DIGEST_HEX_LENGTH",
    "blob_filename",
    "digest_from_filename",
    "digest_hex",
    "is_digest",
    "parse_digest",
    "sha256_digest",
]

DIGEST_HEX_LENGTH = 64

_DIGEST = re.compile(r"sha256[:-]([0-9a-f]{64})")
_MAX_ECHO = 200  # longest bad value echoed back in an error message


def parse_digest(text: str) -> str:
    """Validate a digest and return its canonical `sha256:<hex>` form.

    Accepts `sha256:<hex>` and the file-name form `sha256-<hex>`.

    Raises:
        InvalidDigest: anything other than `sha256` and 64 lowercase hex digits.
    """
    match = _DIGEST.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        shown = str(text)
        if len(shown) > _MAX_ECHO:
            shown = shown[:_MAX_ECHO] + "…"
        raise InvalidDigest(
            f'invalid digest "{shown}": expected sha256: and 64 lowercase hex digits'
        )
    return f"sha256:{match.group(1)}"


def is_digest(text: str) -> bool:
    """Whether `text` is a valid digest in either form."""
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def digest_hex(text: str) -> str:
    """The 64 hex digits of a (validated) digest."""
    return parse_digest(text)[len("sha256:") :]


def blob_filename(text: str) -> str:
    """The blob file name Ollama uses for a digest: `sha256-<hex>`."""
    return "sha256-" + digest_hex(text)


def digest_from_filename(name: str) -> str | None:
    """The digest a blob file name stands for, or None for temp files and strays."""
    if name.startswith("sha256-") and is_digest(name):
        return "sha256:" + name[len("sha256-") :]
    return None


def sha256_digest(data: bytes) -> str:
    """The `sha256:<hex>` digest of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()

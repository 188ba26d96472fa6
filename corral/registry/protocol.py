"""The wire vocabulary both registry sides share: media types, headers, ranges, part sizes."""

from __future__ import annotations

import re

from corral.store.manifests import MEDIA_MANIFEST, MEDIA_OCI_MANIFEST

__all__ = [
    "ACCEPT_MANIFEST",
    "API_VERSION_HEADER",
    "API_VERSION_VALUE",
    "MAX_ERROR_BODY",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "parse_content_range",
    "part_size",
]

ACCEPT_MANIFEST = f"{MEDIA_MANIFEST}, {MEDIA_OCI_MANIFEST}"
API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION_VALUE = "registry/2.0"
MAX_ERROR_BODY = 64 * 1024
"""Longest registry error body read; the rest is dropped (a hostile registry can send GBs)."""

# Ollama's part sizing (server/download.go): total/16 clamped to [100 MB, 1000 MB].
MAX_PARTS = 16
MIN_PART_SIZE = 100_000_000
MAX_PART_SIZE = 1_000_000_000

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d{1,19})-(\d{1,19})(?:/(?:\d{1,19}|\*))?")


def part_size(total: int) -> int:
    """How many bytes each ranged part of a `total`-byte blob covers."""
    return max(MIN_PART_SIZE, min(MAX_PART_SIZE, total // MAX_PARTS))


def parse_content_range(text: str) -> tuple[int, int] | None:
    """`(start, end)` (inclusive) of an upload's `Content-Range: <start>-<end>`; None if bad."""
    match = _CONTENT_RANGE.fullmatch(text.strip())
    if match is None:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    return (start, end) if end >= start else None

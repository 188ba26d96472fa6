"""Image paths typed into a prompt: found, read, checked and attached (vision models only).

As in Ollama, a path that starts with `/`, `./` or `~/` (quoted or with `\\ `
escapes) and ends in .jpg, .jpeg, .png or .webp is read, its content sniffed,
and removed from the text; the image goes into the message's `images` as base64.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_IMAGE_BYTES", "Attachment", "extract_images"]

MAX_IMAGE_BYTES = 100 * 1024 * 1024

_PATH = re.compile(
    r"""(?:'(?P<single>[^']+?\.(?i:jpe?g|png|webp))'"""
    r'''|"(?P<double>[^"]+?\.(?i:jpe?g|png|webp))"'''
    r"""|(?P<bare>(?:[a-zA-Z]:)?(?:\./|/|~/|\\)(?:\\ |[^\s])+?\.(?i:jpe?g|png|webp)))(?!\w)"""
)

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


@dataclass(frozen=True, slots=True)
class Attachment:
    """One image found in a prompt."""

    path: str
    """The path as typed."""
    data: str
    """The file's bytes, base64."""


def _sniff(head: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _read(typed: str) -> str:
    path = Path(typed.replace("\\ ", " ")).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ValueError(f"image {typed!r} is larger than 100 MB")
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read image {typed!r}: {exc.strerror or exc}") from exc
    if _sniff(data[:16]) is None:
        raise ValueError(f"{typed!r} is not a JPEG, PNG or WebP image")
    return base64.b64encode(data).decode("ascii")


def extract_images(prompt: str) -> tuple[str, list[Attachment]]:
    """The prompt with image paths removed, and the images they name.

    Raises:
        ValueError: a named image cannot be read, is too large or is not an image
            (the message names the path).
    """
    found: list[Attachment] = []
    for match in _PATH.finditer(prompt):
        typed = match.group("single") or match.group("double") or match.group("bare")
        found.append(Attachment(typed, _read(typed)))
    if not found:
        return prompt, found
    return re.sub(r"[ \t]{2,}", " ", _PATH.sub("", prompt)).strip(), found

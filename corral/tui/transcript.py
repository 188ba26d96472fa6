"""Pure text work on chats: Markdown export, code blocks of an answer, option lines, fit."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from corral.errors import InvalidRequest
from corral.modelfile import coerce_parameter
from corral.sessions import StoredMessage
from corral.tui.format import human_size

__all__ = ["code_blocks", "fit_text", "format_options", "parse_options", "to_markdown"]

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)

OVERHEAD = 1.2
"""Weights plus context and compute buffers, roughly, for the fit readout."""


def to_markdown(model: str, system: str | None, messages: Sequence[StoredMessage]) -> str:
    """A chat as a Markdown document (thinking left out, as it is not sent back either)."""
    parts = [f"# Chat with {model}\n"]
    if system:
        parts.append(f"**System:** {system}\n")
    for message in messages:
        parts.append(f"## {message.role}\n\n{message.content.rstrip()}\n")
    return "\n".join(parts)


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text, in order."""
    return [match.group(2) for match in _FENCE.finditer(text)]


def parse_options(text: str) -> dict[str, Any]:
    """`temperature=0.7 num_ctx=4096 stop=###` as typed options; repeated `stop` accumulates.

    Raises:
        InvalidRequest: a word is not name=value, or a value has the wrong type.
    """
    options: dict[str, Any] = {}
    for word in text.split():
        name, sep, raw = word.partition("=")
        if not sep or not name or not raw:
            raise InvalidRequest(f"option {word!r} is not name=value (e.g. temperature=0.7)")
        value = coerce_parameter(name, raw)
        if name == "stop":
            options.setdefault("stop", []).append(value)
        else:
            options[name] = value
    return options


def format_options(options: Mapping[str, Any]) -> str:
    """The inverse of `parse_options`."""
    words = []
    for name, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            shown = str(item).lower() if isinstance(item, bool) else str(item)
            words.append(f"{name}={shown}")
    return " ".join(words)


def fit_text(size: int, system: Mapping[str, Any], num_ctx: int | None = None) -> str:
    """With which context, and whether, a model of `size` bytes fits the daemon machine now.

    `system` is `/api/system?model=...`: its `fit` gives the context the daemon would
    load with and the bytes that needs. An older daemon gives no `fit`; the size plus
    `OVERHEAD` stands in, with the chat's `num_ctx` or the daemon's default.
    """
    fit = system.get("fit")
    if isinstance(fit, Mapping) and isinstance(fit.get("required"), int):
        need, context = int(fit["required"]), f"num_ctx {fit.get('num_ctx')}"
    else:
        need = int(size * OVERHEAD)
        context = f"num_ctx {num_ctx}" if num_ctx else "default num_ctx"
    gpus = [g for g in system.get("gpus") or [] if isinstance(g, Mapping)]
    free_vram = sum(int(g.get("vram_total") or 0) - int(g.get("vram_used") or 0) for g in gpus)
    free_ram = int((system.get("memory") or {}).get("available") or 0)
    if gpus and need <= free_vram:
        return f"{context}: fits on GPU ({human_size(free_vram)} free)"
    if need <= free_ram:
        where = "RAM, partly GPU" if gpus and free_vram else "RAM (CPU)"
        return f"{context}: fits in {where} ({human_size(free_ram)} free)"
    free = human_size(max(free_ram, free_vram))
    return f"{context}: too big, needs ~{human_size(need)}, {free} free"

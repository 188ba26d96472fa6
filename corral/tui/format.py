"""Pure formatting helpers shared by the screens: sizes, durations, answer metrics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["answer_usage", "countdown", "human_size", "parse_time"]


def human_size(size: int | float) -> str:
    """`1.2 GB`, `98 MB`, `512 B` (decimal units, as `ollama list`)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit in {"B", "KB", "MB"} else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 timestamp from the API, or None when it is not one."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def countdown(expires_at: str, now: datetime) -> str:
    """What `ollama ps` calls UNTIL, live: `4m 59s`, `forever`, `unloading`."""
    moment = parse_time(expires_at)
    if moment is None:
        return "?"
    seconds = int((moment - now).total_seconds())
    if seconds > 100 * 365 * 86400:
        return "forever"
    if seconds <= 0:
        return "unloading"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def answer_usage(final: Mapping[str, Any]) -> str:
    """`12 in · 40 out · 55.3 tok/s` from the final chunk of a chat stream."""
    prompt = int(final.get("prompt_eval_count") or 0)
    count = int(final.get("eval_count") or 0)
    duration = int(final.get("eval_duration") or 0)
    rate = f" · {count / (duration / 1e9):.1f} tok/s" if duration > 0 and count else ""
    return f"{prompt} in · {count} out{rate}"

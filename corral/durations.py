"""Durations as Ollama spells them: Go's `time.ParseDuration` and `keep_alive` values."""

from __future__ import annotations

import math
import re

__all__ = ["FOREVER", "format_go_duration", "parse_go_duration", "parse_keep_alive"]

FOREVER = math.inf
"""A keep-alive that never expires (any negative duration)."""

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Parse a Go duration string ("5m", "1h30m", "-1m", "0") into seconds.

    Raises:
        ValueError: the text is not a Go duration (a bare number other than 0
            has no unit, so "3600" is rejected, as Go does).
    """
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    pos = 0
    total = 0.0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            if re.fullmatch(r"[\d.]+", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_keep_alive(value: object) -> float:
    """Turn a request's `keep_alive` into seconds; negative means forever.

    A number is seconds; a string is a Go duration. Any negative value becomes
    `FOREVER`, as Ollama does.

    Raises:
        ValueError: a string that is not a duration, or a JSON type that is
            neither number nor string.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        kind = "null" if value is None else type(value).__name__
        raise ValueError(f"Unsupported type: '{kind}'")
    seconds = float(value) if not isinstance(value, str) else parse_go_duration(value)
    if math.isnan(seconds):
        raise ValueError('keep_alive must be a number of seconds or a duration like "5m"')
    return FOREVER if seconds < 0 else seconds


def format_go_duration(seconds: float) -> str:
    """Render seconds the way Go prints a `time.Duration` ("5m0s", "1h30m0s", "1.5s")."""
    if math.isinf(seconds):
        return "-1"
    if seconds == 0:
        return "0s"
    negative = seconds < 0
    seconds = abs(seconds)
    if seconds < 1:
        for unit, scale in (("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
            if seconds >= scale:
                text = f"{seconds / scale:.6f}".rstrip("0").rstrip(".") + unit
                return ("-" if negative else "") + text
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    sec_text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    text = ""
    if hours:
        text += f"{int(hours)}h"
    if hours or minutes:
        text += f"{int(minutes)}m"
    text += sec_text
    return ("-" if negative else "") + text

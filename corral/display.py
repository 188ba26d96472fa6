"""Pure text for people: tables, sizes, relative times, `show` and `--verbose` stats (CLI, REPL).

Every function here takes data and returns a string (no printing, no clock
reads: callers pass `now`), so each can be tested directly. The formats follow
Ollama's `format` package and `cmd` tables byte for byte where Ollama has one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from corral.durations import format_go_duration

__all__ = [
    "format_metrics",
    "human_bytes",
    "human_duration",
    "human_number",
    "human_time",
    "list_table",
    "parse_time",
    "processor",
    "ps_table",
    "show_summary",
    "table",
    "until",
]

_PADDING = "    "


def human_bytes(size: int) -> str:
    """Decimal units as Ollama prints them: `512 B`, `1.5 KB`, `98 MB`, `2.0 GB`, `2 GB`."""
    units = (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000))
    for unit, scale in units:
        if size >= scale:
            value = size / scale
            if value >= 10:
                return f"{int(value)} {unit}"
            if value != math.trunc(value):
                return f"{value:.1f} {unit}"
            return f"{int(value)} {unit}"
    return f"{size} B"


def human_number(count: int) -> str:
    """Parameter counts as Ollama prints them: `135M`, `134.52M`, `7.2B`, `12K`."""
    if count >= 1_000_000_000:
        value = count / 1_000_000_000
        return f"{value:.0f}B" if value == math.floor(value) else f"{value:.1f}B"
    if count >= 1_000_000:
        value = count / 1_000_000
        return f"{value:.0f}M" if value == math.floor(value) else f"{value:.2f}M"
    if count >= 1000:
        return f"{count / 1000:.0f}K"
    return str(count)


def human_duration(seconds: float) -> str:
    """An approximate span: `Less than a second`, `5 seconds`, `About a minute`, `3 days`..."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    # Go's math.Round rounds halves away from zero; Python's round() would not.
    hours = math.floor(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp from the API (nanoseconds allowed); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Go's zero time ("0001-01-01T00:00:00Z") means "never set".
    return None if parsed.year <= 1 else parsed


def human_time(when: datetime | None, now: datetime, zero: str = "Never") -> str:
    """`3 days ago`, `4 minutes from now`, or `Forever` for more than 20 years ahead."""
    if when is None:
        return zero
    delta = (now - when).total_seconds()
    if int(delta / 3600) // 24 // 365 < -20:
        return "Forever"
    if delta < 0:
        return human_duration(-delta) + " from now"
    return human_duration(delta) + " ago"


def until(expires_at: datetime | None, now: datetime) -> str:
    """The UNTIL column of `ps`: `Stopping...` once expired, else a relative time."""
    if expires_at is not None and expires_at < now:
        return "Stopping..."
    return human_time(expires_at, now, "Never")


def processor(size: int, size_vram: int) -> str:
    """The PROCESSOR column of `ps`: `100% GPU`, `100% CPU`, `48%/52% CPU/GPU` or `Unknown`."""
    if size_vram == 0:
        return "100% CPU"
    if size_vram == size:
        return "100% GPU"
    if size_vram > size or size == 0:
        return "Unknown"
    cpu = math.floor((size - size_vram) / size * 100 + 0.5)
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None) -> str:
    """Left-aligned columns separated by four spaces, trailing spaces trimmed (no final newline)."""
    all_rows = [list(headers)] if headers else []
    all_rows.extend(list(row) for row in rows)
    if not all_rows:
        return ""
    columns = max(len(row) for row in all_rows)
    widths = [
        max((len(row[i]) for row in all_rows if i < len(row)), default=0) for i in range(columns)
    ]
    lines = []
    for row in all_rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append(_PADDING.join(cells).rstrip())
    return "\n".join(lines)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _matches(model: Mapping[str, Any], prefix: str | None) -> bool:
    if not prefix:
        return True
    name = _str(model.get("name")) or _str(model.get("model"))
    return name.lower().startswith(prefix.lower())


def list_table(
    models: Sequence[Mapping[str, Any]], now: datetime, prefix: str | None = None
) -> str:
    """`corral list`: NAME, ID (12 hex), SIZE, MODIFIED."""
    rows = []
    for model in models:
        if not _matches(model, prefix):
            continue
        size = "-" if model.get("remote_host") else human_bytes(_int(model.get("size")))
        rows.append(
            [
                _str(model.get("name")) or _str(model.get("model")),
                _str(model.get("digest"))[:12],
                size,
                human_time(parse_time(model.get("modified_at")), now, "Unknown"),
            ]
        )
    return table(rows, ["NAME", "ID", "SIZE", "MODIFIED"])


def ps_table(models: Sequence[Mapping[str, Any]], now: datetime, prefix: str | None = None) -> str:
    """`corral ps`: NAME, ID, SIZE, PROCESSOR, CONTEXT, UNTIL."""
    rows = []
    for model in models:
        if not _matches(model, prefix):
            continue
        size = _int(model.get("size"))
        context = _int(model.get("context_length"))
        rows.append(
            [
                _str(model.get("name")) or _str(model.get("model")),
                _str(model.get("digest"))[:12],
                human_bytes(size),
                processor(size, _int(model.get("size_vram"))),
                str(context) if context else "",
                until(parse_time(model.get("expires_at")), now),
            ]
        )
    return table(rows, ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"])


def _number(value: object) -> str | None:
    """A GGUF number as Go's strconv.FormatFloat(f, 'f', -1) prints it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _head(text: str, count: int) -> list[list[str]]:
    """The first `count` non-blank lines, then `...` when there are more."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    rows = [["", line] for line in lines[:count]]
    if len(lines) > count:
        rows.append(["", "..."])
    return rows


def _section(title: str, rows: list[list[str]]) -> str:
    return f"  {title}\n" + table(rows) + "\n\n"


def show_summary(info: Mapping[str, Any]) -> str:
    """The default `corral show MODEL` output built from an `/api/show` answer."""
    raw_details = info.get("details")
    details: Mapping[str, Any] = raw_details if isinstance(raw_details, Mapping) else {}
    model_info = info.get("model_info")
    rows: list[list[str]] = []
    if info.get("remote_host"):
        rows.append(["", "Remote model", _str(info.get("remote_model"))])
        rows.append(["", "Remote URL", _str(info.get("remote_host"))])
    if isinstance(model_info, Mapping) and model_info:
        arch = _str(model_info.get("general.architecture"))
        if arch:
            rows.append(["", "architecture", arch])
        params = _str(details.get("parameter_size"))
        count = model_info.get("general.parameter_count")
        if not params and isinstance(count, int | float) and not isinstance(count, bool):
            params = human_number(int(count))
        if params:
            rows.append(["", "parameters", params])
        for key, label in (
            ("context_length", "context length"),
            ("embedding_length", "embedding length"),
        ):
            text = _number(model_info.get(f"{arch}.{key}"))
            if text is not None:
                rows.append(["", label, text])
    else:
        rows.append(["", "architecture", _str(details.get("family"))])
        rows.append(["", "parameters", _str(details.get("parameter_size"))])
    rows.append(["", "quantization", _str(details.get("quantization_level"))])
    if info.get("requires"):
        rows.append(["", "requires", _str(info.get("requires"))])
    out = _section("Model", rows)

    capabilities = info.get("capabilities")
    if isinstance(capabilities, list) and capabilities:
        out += _section("Capabilities", [["", str(c)] for c in capabilities])

    parameters = _str(info.get("parameters"))
    if parameters:
        out += _section(
            "Parameters",
            [["", *line.split()] for line in parameters.splitlines() if line.strip()],
        )
    system = _str(info.get("system"))
    if system:
        out += _section("System", _head(system, 2))
    license_text = info.get("license")
    if isinstance(license_text, list):
        license_text = "\n".join(str(part) for part in license_text)
    if isinstance(license_text, str) and license_text:
        out += _section("License", _head(license_text, 2))
    return out


def format_metrics(final: Mapping[str, Any]) -> str:
    """The `--verbose` statistics block (Ollama's `Metrics.Summary`); each line only when > 0."""
    lines = []

    def duration(key: str) -> float:
        return _int(final.get(key)) / 1e9

    total, load = duration("total_duration"), duration("load_duration")
    prompt_count, prompt_time = (
        _int(final.get("prompt_eval_count")),
        duration("prompt_eval_duration"),
    )
    eval_count, eval_time = _int(final.get("eval_count")), duration("eval_duration")
    if total > 0:
        lines.append(f"total duration:       {format_go_duration(total)}")
    if load > 0:
        lines.append(f"load duration:        {format_go_duration(load)}")
    if prompt_count > 0:
        lines.append(f"prompt eval count:    {prompt_count} token(s)")
    if prompt_time > 0:
        lines.append(f"prompt eval duration: {format_go_duration(prompt_time)}")
        lines.append(f"prompt eval rate:     {prompt_count / prompt_time:.2f} tokens/s")
    if eval_count > 0:
        lines.append(f"eval count:           {eval_count} token(s)")
    if eval_time > 0:
        lines.append(f"eval duration:        {format_go_duration(eval_time)}")
        lines.append(f"eval rate:            {eval_count / eval_time:.2f} tokens/s")
    return "".join(line + "\n" for line in lines)

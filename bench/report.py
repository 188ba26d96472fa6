"""The pure part of the benchmark: rates, medians, targets and the result table.

Nothing here starts a process or opens a socket, so it is unit tested on its own
(tests/bench/test_report.py); `bench/run.py` feeds it the measured numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AtLeast",
    "AtMost",
    "Row",
    "Stream",
    "aggregate_rate",
    "decode_rate",
    "exit_code",
    "format_table",
    "median",
]


def median(values: Iterable[float]) -> float:
    """The median of the measured repetitions.

    Raises:
        ValueError: no value was measured.
    """
    data = [float(v) for v in values]
    if not data:
        raise ValueError("no measurements to take the median of")
    return float(statistics.median(data))


@dataclass(frozen=True, slots=True)
class Stream:
    """One streamed completion as the client saw it (times in seconds, any common clock)."""

    tokens: int
    """Tokens the server says it generated."""
    first: float
    """When the first chunk with text arrived."""
    last: float
    """When the last chunk with text arrived."""


def decode_rate(stream: Stream) -> float:
    """Client-side decode speed: tokens after the first over the first-to-last interval.

    The first token's time belongs to prompt processing, so it is not counted; a stream
    of one token, or one whose chunks all arrived at once, has no measurable rate (0).
    """
    span = stream.last - stream.first
    if stream.tokens < 2 or span <= 0:
        return 0.0
    return (stream.tokens - 1) / span


def aggregate_rate(streams: Sequence[Stream]) -> float:
    """Tokens per second of concurrent streams together, from the first token of any to the
    last token of all (streams that wait for others stretch the interval)."""
    if not streams:
        return 0.0
    span = max(s.last for s in streams) - min(s.first for s in streams)
    total = sum(s.tokens for s in streams) - 1
    if total < 1 or span <= 0:
        return 0.0
    return total / span


@dataclass(frozen=True, slots=True)
class AtLeast:
    """Higher is better: corral ÷ anchor must be at least `ratio`."""

    ratio: float

    def passes(self, corral: float, anchor: float) -> bool:
        if anchor <= 0:
            return corral > 0
        return corral / anchor >= self.ratio

    def passes_pairs(self, pairs: Sequence[tuple[float, float]]) -> bool:
        return median(c / a for c, a in pairs) >= self.ratio

    def describe(self, unit: str) -> str:
        return f"≥ {self.ratio:.2f}"


@dataclass(frozen=True, slots=True)
class AtMost:
    """Lower is better: corral ÷ anchor at most `ratio`, or corral at most anchor + `slack`."""

    ratio: float
    slack: float = 0.0
    """An absolute allowance in the measure's unit (10 ms of time to first token)."""

    def passes(self, corral: float, anchor: float) -> bool:
        return corral <= anchor * self.ratio or corral <= anchor + self.slack

    def passes_pairs(self, pairs: Sequence[tuple[float, float]]) -> bool:
        return (
            median(c / a for c, a in pairs) <= self.ratio
            or median(c - a for c, a in pairs) <= self.slack
        )

    def describe(self, unit: str) -> str:
        text = f"≤ {self.ratio:.2f}"
        if self.slack:
            text += f" or +{_number(self.slack, unit)} {unit}"
        return text


Target = AtLeast | AtMost


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a measure, both results, and the target (None: reference only)."""

    measure: str
    unit: str
    corral: float | None
    anchor: float | None
    target: Target | None = None
    note: str = ""
    samples: tuple[tuple[float, ...], tuple[float, ...]] = field(default=((), ()))
    """The repetitions behind the medians (corral's, anchor's), for the log."""
    paired: bool = False
    """The samples were taken in pairs, one of each side back to back: the ratio (and the
    difference, for a slack) is then the median over the pairs, so that the machine's
    drift from one pair to the next cancels."""

    def _pairs(self) -> list[tuple[float, float]]:
        return [(c, a) for c, a in zip(*self.samples, strict=True) if a > 0]

    @property
    def ratio(self) -> float | None:
        if self.paired:
            pairs = self._pairs()
            return median(c / a for c, a in pairs) if pairs else None
        if self.corral is None or self.anchor is None or self.anchor == 0:
            return None
        return self.corral / self.anchor

    @property
    def passed(self) -> bool | None:
        """True or False against the target; None for a reference row. A missing value fails."""
        if self.target is None:
            return None
        if self.corral is None or self.anchor is None:
            return False
        if math.isnan(self.corral) or math.isnan(self.anchor):
            return False
        if self.paired:
            pairs = self._pairs()
            return bool(pairs) and self.target.passes_pairs(pairs)
        return self.target.passes(self.corral, self.anchor)


def _number(value: float, unit: str) -> str:
    if unit == "tokens":
        return f"{value:.0f}"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.1f}"


def _cell(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{_number(value, unit)} {unit}"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table: measure, corral, anchor, ratio, target, result, note."""
    header = ("measure", "corral", "anchor", "ratio", "target", "result", "note")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        ratio = row.ratio
        passed = row.passed
        note = row.note
        if row.paired:
            pairs = f"ratio: median of {len(row.samples[0])} pairs"
            note = f"{note}; {pairs}" if note else pairs
        lines.append(
            (
                row.measure,
                _cell(row.corral, row.unit),
                _cell(row.anchor, row.unit),
                "-" if ratio is None else f"{ratio:.2f}",
                "-" if row.target is None else row.target.describe(row.unit),
                "ref" if passed is None else ("pass" if passed else "FAIL"),
                note,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [render(lines[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(render(line) for line in lines[1:])
    return "\n".join(out)


def exit_code(rows: Sequence[Row]) -> int:
    """1 when any row misses its target, else 0."""
    return 1 if any(row.passed is False for row in rows) else 0

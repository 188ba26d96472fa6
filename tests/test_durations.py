from __future__ import annotations

import math

import pytest

from corral.durations import FOREVER, format_go_duration, parse_go_duration, parse_keep_alive


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300),
        ("1h30m", 5400),
        ("0", 0),
        ("-1m", -60),
        ("1.5s", 1.5),
        ("300ms", 0.3),
        ("2h", 7200),
        ("1m30.5s", 90.5),
        ("+10s", 10),
        ("100us", 1e-4),
        ("1µs", 1e-6),
    ],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "3600", "5 m", "m", "1d", "abc", "--5m", "1.2.3s"])
def test_parse_go_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(42, 42), (42.5, 42.5), ("5m", 300), (0, 0), ("0", 0), (-1, FOREVER), ("-1m", FOREVER)],
)
def test_parse_keep_alive(value: object, seconds: float) -> None:
    assert parse_keep_alive(value) == seconds


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}, "3600", "soon"])
def test_parse_keep_alive_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_keep_alive(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m0s"), (5400, "1h30m0s"), (1.5, "1.5s"), (0, "0s"), (0.25, "250ms"), (math.inf, "-1")],
)
def test_format_go_duration(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text

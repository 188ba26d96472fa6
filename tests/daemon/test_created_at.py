"""`created_at` stamps: Go's RFC3339 in UTC, as Ollama writes them on every chunk."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from corral.daemon.streaming import now_rfc3339


def test_the_stamp_is_the_current_utc_time_in_rfc3339() -> None:
    stamp = now_rfc3339()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", stamp), stamp
    assert abs((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()) < 5


def test_each_second_and_fraction_is_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    start = 1_700_000_000 * 10**9  # 2023-11-14T22:13:20Z
    for offset, expected in [
        (0, "2023-11-14T22:13:20Z"),
        (250_000_000, "2023-11-14T22:13:20.250000Z"),
        (1_000_001_999, "2023-11-14T22:13:21.000001Z"),
        (86_400 * 10**9, "2023-11-15T22:13:20Z"),
    ]:
        monkeypatch.setattr(time, "time_ns", lambda at=start + offset: at)
        assert now_rfc3339() == expected

"""The benchmark's pure logic: rates, medians, targets, the table and the exit code."""

from __future__ import annotations

import math

import pytest

from bench.report import (
    AtLeast,
    AtMost,
    Row,
    Stream,
    aggregate_rate,
    decode_rate,
    exit_code,
    format_table,
    median,
)


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4, 1, 3, 2]) == 2.5


def test_median_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no measurements"):
        median([])


def test_decode_rate_leaves_out_the_first_token() -> None:
    # 129 tokens, the last 128 of them over 2 seconds.
    assert decode_rate(Stream(tokens=129, first=10.0, last=12.0)) == 64.0


@pytest.mark.parametrize("stream", [Stream(1, 0.0, 1.0), Stream(5, 2.0, 2.0), Stream(5, 3, 2)])
def test_decode_rate_without_a_measurable_interval_is_zero(stream: Stream) -> None:
    assert decode_rate(stream) == 0.0


def test_aggregate_rate_spans_from_the_first_first_token_to_the_last_token() -> None:
    streams = [Stream(51, 0.0, 1.0), Stream(50, 0.5, 2.0)]
    assert aggregate_rate(streams) == 50.0  # 100 tokens after the first, over 2 s


def test_aggregate_rate_of_serialised_streams_is_lower_than_of_batched_ones() -> None:
    batched = [Stream(11, 0.0, 1.0) for _ in range(4)]
    serial = [Stream(11, float(i), float(i) + 1.0) for i in range(4)]
    assert aggregate_rate(serial) < aggregate_rate(batched)


def test_aggregate_rate_of_nothing_is_zero() -> None:
    assert aggregate_rate([]) == 0.0


def test_at_least_compares_the_ratio() -> None:
    target = AtLeast(0.95)
    assert target.passes(95.0, 100.0)
    assert not target.passes(94.9, 100.0)
    assert target.describe("tok/s") == "≥ 0.95"


def test_at_most_passes_within_the_ratio_or_the_slack() -> None:
    target = AtMost(1.10, slack=10.0)
    assert target.passes(110.0, 100.0)  # ratio 1.10
    assert not target.passes(111.0, 100.0)
    assert target.passes(25.0, 16.0)  # ratio 1.56, but only 9 ms more
    assert not target.passes(27.0, 16.0)
    assert target.describe("ms") == "≤ 1.10 or +10.0 ms"
    assert AtMost(1.2).describe("ms") == "≤ 1.20"


def test_row_ratio_and_result() -> None:
    row = Row("decode", "tok/s", 90.0, 100.0, AtLeast(0.95))
    assert row.ratio == pytest.approx(0.9)
    assert row.passed is False
    assert Row("decode", "tok/s", 99.0, 100.0, AtLeast(0.95)).passed is True


def _rows(ours: tuple[float, ...], theirs: tuple[float, ...], target: float) -> tuple[Row, Row]:
    """The same samples judged on their pairs' ratios, and on the ratio of their medians."""
    args = ("decode", "tok/s", median(ours), median(theirs), AtLeast(target))
    return (
        Row(*args, samples=(ours, theirs), paired=True),
        Row(*args, samples=(ours, theirs)),
    )


def test_a_paired_row_is_judged_on_the_median_of_its_pairs_ratios() -> None:
    ours = (100.0, 98.0, 60.0, 59.0, 101.0)
    theirs = (101.0, 100.0, 61.0, 60.0, 100.0)  # pair ratios 0.99 0.98 0.984 0.983 1.01
    paired, _ = _rows(ours, theirs, 0.99)
    assert paired.ratio == pytest.approx(60.0 / 61.0)
    assert paired.passed is False
    assert _rows(ours, theirs, 0.98)[0].passed is True


def test_a_slow_spell_on_one_side_fails_the_medians_but_not_the_pairs() -> None:
    # The machine slowed down for pairs 3 to 5, and more during corral's runs of them.
    ours = (90.0, 91.0, 60.0, 61.0, 62.0)
    theirs = (91.0, 92.0, 92.0, 62.0, 62.0)  # pair ratios 0.989 0.989 0.652 0.984 1.0
    paired, unpaired = _rows(ours, theirs, 0.95)
    assert paired.ratio == pytest.approx(90.0 / 91.0)
    assert paired.passed is True
    assert unpaired.ratio == pytest.approx(62.0 / 91.0)
    assert unpaired.passed is False


def test_a_paired_slack_is_the_median_of_the_pairs_differences() -> None:
    ours = (60.0, 70.0, 58.0, 80.0, 62.0)
    theirs = (50.0, 68.0, 52.0, 50.0, 61.0)  # differences 10 2 6 30 1
    unpaired = Row("ttft", "ms", 62.0, 52.0, AtMost(1.05, slack=6.0), samples=(ours, theirs))
    assert unpaired.passed is False  # the medians are 10 ms apart
    paired = Row(
        "ttft", "ms", 62.0, 52.0, AtMost(1.05, slack=6.0), samples=(ours, theirs), paired=True
    )
    assert paired.passed is True
    tighter = Row(
        "ttft", "ms", 62.0, 52.0, AtMost(1.05, slack=5.0), samples=(ours, theirs), paired=True
    )
    assert tighter.passed is False


def test_reference_rows_have_no_result_and_missing_values_fail() -> None:
    assert Row("llama-bench tg128", "tok/s", None, 120.0).passed is None
    assert Row("ttft", "ms", None, 20.0, AtMost(1.1)).passed is False
    assert Row("ttft", "ms", math.nan, 20.0, AtMost(1.1)).passed is False
    assert Row("ttft", "ms", 20.0, 0.0, AtMost(1.1)).ratio is None


def test_table_lists_every_row_with_its_result() -> None:
    rows = [
        Row("decode SmolLM2", "tok/s", 125.04, 130.0, AtLeast(0.95), note="median of 3"),
        Row("ttft", "ms", 30.0, 20.0, AtMost(1.10, slack=10.0)),
        Row("llama-bench tg128", "tok/s", None, 140.0),
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split("|")[1].strip() == "measure"
    assert len(lines) == 2 + len(rows)
    assert [line.split("|")[-3].strip() for line in lines[2:]] == ["pass", "pass", "ref"]
    assert "125.0 tok/s" in lines[2] and "0.96" in lines[2]
    assert lines[2].split("|")[-2].strip() == "median of 3"
    assert "| - " in lines[4]
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_exit_code_is_one_when_any_target_is_missed() -> None:
    good = Row("a", "tok/s", 100.0, 100.0, AtLeast(0.95))
    bad = Row("b", "tok/s", 50.0, 100.0, AtLeast(0.95))
    ref = Row("c", "tok/s", None, 100.0)
    assert exit_code([good, ref]) == 0
    assert exit_code([good, bad, ref]) == 1
    assert exit_code([]) == 0

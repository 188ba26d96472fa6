"""JSON on the per-token paths: orjson's speed, and json's reach where orjson refuses."""

from __future__ import annotations

import json
import math

import pytest

from corral import wirejson


@pytest.mark.parametrize(
    "value",
    [
        {"model": "m", "response": 'say "héllo"\n😀', "done": False},
        {"logprob": -1.25e-05, "bytes": [240, 159, 152, 128]},
        {"arguments": {"n": 10**30}},  # beyond 64 bits: json's path
        {"content": "\ud800"},  # a lone surrogate: json's path
        {1: "a key that is not a string"},  # json's path
    ],
)
def test_what_is_written_reads_back_as_json_reads_it(value: object) -> None:
    data = wirejson.dumps(value)
    assert isinstance(data, bytes)
    assert json.loads(data) == json.loads(json.dumps(value))
    assert b"\n" not in data  # one line of NDJSON


def test_output_is_compact_utf8() -> None:
    assert wirejson.dumps({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_reading_accepts_what_json_accepts() -> None:
    assert wirejson.loads(b'{"content":" 13"}\n') == {"content": " 13"}
    assert math.isinf(wirejson.loads('{"logprob": -Infinity}')["logprob"])


def test_reading_garbage_raises_a_value_error() -> None:
    with pytest.raises(ValueError):
        wirejson.loads(b"{not json")

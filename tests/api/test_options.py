from __future__ import annotations

import logging

import pytest

from corral.api import DEFAULT_OPTIONS, merge_options
from corral.errors import InvalidRequest


def test_layers_merge_in_order() -> None:
    merged = merge_options({"temperature": 0.2, "stop": ["a"]}, {"temperature": 0.5, "top_k": 5})
    assert merged["temperature"] == 0.5
    assert merged["top_k"] == 5
    assert merged["stop"] == ["a"]
    assert merged["top_p"] == DEFAULT_OPTIONS["top_p"]


def test_null_values_are_skipped() -> None:
    assert merge_options({"seed": 3}, {"seed": None})["seed"] == 3


def test_unknown_and_deprecated_names_are_dropped_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        merged = merge_options({"mirostat": 2, "made_up": 1})
    assert "mirostat" not in merged and "made_up" not in merged
    assert "mirostat" in caplog.text and "made_up" in caplog.text


def test_ints_widen_to_float_and_integral_floats_narrow() -> None:
    merged = merge_options({"temperature": 1, "num_ctx": 2048.0})
    assert merged["temperature"] == 1.0 and isinstance(merged["temperature"], float)
    assert merged["num_ctx"] == 2048 and isinstance(merged["num_ctx"], int)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"temperature": "hot"}, 'option "temperature" must be of type float32'),
        ({"num_ctx": 1.5}, 'option "num_ctx" must be of type integer'),
        ({"top_k": True}, 'option "top_k" must be of type integer'),
        ({"stop": "x"}, 'option "stop" must be of an array of strings'),
        ({"stop": [1]}, 'option "stop" must be of an array of strings'),
        ({"use_mmap": "yes"}, 'option "use_mmap" must be of type boolean'),
        ({"temperature": float("nan")}, 'option "temperature"'),
    ],
)
def test_wrong_types_name_the_option(options: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        merge_options(options)
    assert needle in str(caught.value)

"""PARAMETER names, types, text → value (`coerce_parameter`) and value → text."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from corral.errors import ModelfileError
from corral.modelfile import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    coerce_parameter,
    format_parameter_value,
)


def test_parameter_table_is_ollamas() -> None:
    # reference §3.3, in Ollama's order
    assert list(PARAMETER_TYPES) == [
        "num_keep", "seed", "num_predict", "top_k", "top_p", "min_p", "typical_p",
        "repeat_last_n", "temperature", "repeat_penalty", "presence_penalty",
        "frequency_penalty", "stop", "num_ctx", "num_batch", "num_gpu", "main_gpu",
        "use_mmap", "num_thread", "draft_num_predict",
    ]  # fmt: skip
    assert PARAMETER_TYPES["stop"] is list
    assert PARAMETER_TYPES["use_mmap"] is bool
    assert PARAMETER_TYPES["main_gpu"] is int
    assert PARAMETER_TYPES["temperature"] is float
    assert {
        "penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
        "mirostat", "mirostat_tau", "mirostat_eta",
    } == DEPRECATED_PARAMETERS  # fmt: skip
    assert not DEPRECATED_PARAMETERS & set(PARAMETER_TYPES)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("42", 42), ("-1", -1), ("+7", 7), ("0", 0), ("9223372036854775807", 2**63 - 1)],
)
def test_int_values(raw: str, value: int) -> None:
    assert coerce_parameter("num_ctx", raw) == value


@pytest.mark.parametrize(
    "raw", ["1.5", "0x10", "1_000", "", " 1", "1e3", "٣", "9223372036854775808", "four"]
)
def test_bad_int_values(raw: str) -> None:
    with pytest.raises(ModelfileError, match='parameter "num_ctx" must be an integer'):
        coerce_parameter("num_ctx", raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0.7", 0.7), ("1", 1.0), ("1e-05", 1e-05), (".5", 0.5), ("-2.", -2.0), ("3.4e38", 3.4e38)],
)
def test_float_values(raw: str, value: float) -> None:
    result = coerce_parameter("temperature", raw)
    assert result == value
    assert type(result) is float


@pytest.mark.parametrize("raw", ["hot", "nan", "inf", "-Infinity", "1e39", "0.7f", "", "1,5"])
def test_bad_float_values(raw: str) -> None:
    with pytest.raises(ModelfileError, match='parameter "temperature" must be a number'):
        coerce_parameter("temperature", raw)


@pytest.mark.parametrize("raw", ["1", "t", "T", "TRUE", "true", "True"])
def test_true_values(raw: str) -> None:
    assert coerce_parameter("use_mmap", raw) is True


@pytest.mark.parametrize("raw", ["0", "f", "F", "FALSE", "false", "False"])
def test_false_values(raw: str) -> None:
    assert coerce_parameter("use_mmap", raw) is False


@pytest.mark.parametrize("raw", ["yes", "on", "tRUE", "2", ""])
def test_bad_bool_values(raw: str) -> None:
    with pytest.raises(ModelfileError, match='parameter "use_mmap" must be true or false'):
        coerce_parameter("use_mmap", raw)


def test_stop_is_one_string_as_written() -> None:
    assert coerce_parameter("stop", " <|im_end|> ") == " <|im_end|> "


def test_unknown_and_deprecated_names() -> None:
    with pytest.raises(ModelfileError, match='unknown parameter "foo"'):
        coerce_parameter("foo", "1")
    with pytest.raises(ModelfileError, match='parameter "mirostat" is deprecated'):
        coerce_parameter("mirostat", "1")
    with pytest.raises(ModelfileError) as info:
        coerce_parameter("temperature", "hot")
    assert info.value.line == 0
    assert str(info.value) == 'parameter "temperature" must be a number, got "hot"'


def test_long_bad_values_are_cut_in_messages() -> None:
    with pytest.raises(ModelfileError) as info:
        coerce_parameter("top_k", "x" * 10_000)
    assert len(str(info.value)) < 120


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.7, "0.7"),
        (1.0, "1"),
        (-0.5, "-0.5"),
        (1e-05, "1e-05"),
        (1.234e-05, "1.234e-05"),
        (0.0001, "0.0001"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0, "0"),
        (True, "true"),
        (False, "false"),
        (1000000, "1000000"),
        ("a b", "a b"),
    ],
)
def test_values_print_like_go_percent_v(value: object, text: str) -> None:
    assert format_parameter_value(value) == text


def test_integral_floats_print_as_ints_on_request() -> None:
    assert format_parameter_value(4096.0, as_int=True) == "4096"
    assert format_parameter_value(0.5, as_int=True) == "0.5"


@given(st.floats(min_value=-3.4e38, max_value=3.4e38, allow_nan=False))
def test_floats_survive_print_and_parse(value: float) -> None:
    assert coerce_parameter("temperature", format_parameter_value(value)) == value


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_ints_survive_print_and_parse(value: int) -> None:
    assert coerce_parameter("seed", format_parameter_value(value)) == value

"""Pure rendering functions of the CLI: sizes, times, tables, `show`, stats, bars, wrapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.cli._output import WordWrapper
from corral.cli._progress import bar_line
from corral.cli.run import join_prompt
from corral.display import (
    format_metrics,
    human_bytes,
    human_number,
    human_time,
    list_table,
    parse_time,
    processor,
    ps_table,
    show_summary,
    table,
    until,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 KB"),
        (1500, "1.5 KB"),
        (98_304_000, "98 MB"),
        (100_000_000, "100 MB"),
        (2_000_000_000, "2 GB"),
        (2_019_393_189, "2.0 GB"),
        (4_700_000_000, "4.7 GB"),
        (12_345_678_901, "12 GB"),
        (1_500_000_000_000, "1.5 TB"),
    ],
)
def test_human_bytes_uses_decimal_units_like_ollama(size: int, text: str) -> None:
    assert human_bytes(size) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (134_515_008, "134.52M"),
        (135_000_000, "135M"),
        (7_241_732_096, "7.2B"),
        (8_000_000_000, "8B"),
        (12_345, "12K"),
        (999, "999"),
    ],
)
def test_human_number(count: int, text: str) -> None:
    assert human_number(count) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-0.5), "Less than a second ago"),
        (timedelta(seconds=-1), "1 second ago"),
        (timedelta(seconds=-42), "42 seconds ago"),
        (timedelta(seconds=-90), "About a minute ago"),
        (timedelta(minutes=-4, seconds=-10), "4 minutes ago"),
        (timedelta(minutes=4, seconds=10), "4 minutes from now"),
        (timedelta(minutes=-70), "About an hour ago"),
        (timedelta(hours=-5), "5 hours ago"),
        (timedelta(days=-3), "3 days ago"),
        (timedelta(days=-20), "2 weeks ago"),
        (timedelta(days=-100), "3 months ago"),
        (timedelta(days=-800), "2 years ago"),
        (timedelta(days=365 * 292), "Forever"),
    ],
)
def test_human_time(delta: timedelta, text: str) -> None:
    assert human_time(NOW + delta, NOW) == text


def test_parse_time_reads_go_timestamps() -> None:
    parsed = parse_time("2026-03-01T04:00:00.123456789-08:00")
    assert parsed == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


def test_until() -> None:
    assert until(NOW - timedelta(seconds=1), NOW) == "Stopping..."
    assert until(NOW + timedelta(minutes=4, seconds=30), NOW) == "4 minutes from now"
    assert until(None, NOW) == "Never"
    assert until(NOW + timedelta(days=365 * 292), NOW) == "Forever"


@pytest.mark.parametrize(
    ("size", "vram", "text"),
    [
        (1000, 0, "100% CPU"),
        (1000, 1000, "100% GPU"),
        (1000, 520, "48%/52% CPU/GPU"),
        (1000, 2000, "Unknown"),
    ],
)
def test_processor(size: int, vram: int, text: str) -> None:
    assert processor(size, vram) == text


def test_table_aligns_columns_with_four_spaces_and_no_trailing_blanks() -> None:
    assert table([["a", "bb", ""], ["ccc", "d", "e"]], ["X", "Y", "Z"]) == (
        "X      Y     Z\na      bb\nccc    d     e"
    )


def test_list_table() -> None:
    models = [
        {
            "name": "smollm2:135m",
            "digest": "9077e0aa71d5b6e0c0b5b1b9f2f7c0b2a4d6e8f0a1b2c3d4e5f6a7b8c9d0e1f2",
            "size": 98_304_000,
            "modified_at": (NOW - timedelta(days=3)).isoformat(),
        },
        {
            "name": "Llama3.2:latest",
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "size": 2_019_393_189,
            "modified_at": (NOW - timedelta(minutes=5)).isoformat(),
        },
    ]
    assert list_table(models, NOW) == (
        "NAME               ID              SIZE      MODIFIED\n"
        "smollm2:135m       9077e0aa71d5    98 MB     3 days ago\n"
        "Llama3.2:latest    a80c4f17acd5    2.0 GB    5 minutes ago"
    )
    assert list_table(models, NOW, "llama").splitlines()[1].startswith("Llama3.2:latest")
    assert len(list_table(models, NOW, "nothing").splitlines()) == 1


def test_ps_table() -> None:
    models = [
        {
            "name": "smollm2:135m",
            "digest": "9077e0aa71d5b6e0",
            "size": 500_000_000,
            "size_vram": 0,
            "context_length": 4096,
            "expires_at": (NOW + timedelta(minutes=4, seconds=30)).isoformat(),
        }
    ]
    assert ps_table(models, NOW) == (
        "NAME            ID              SIZE      PROCESSOR    CONTEXT    UNTIL\n"
        "smollm2:135m    9077e0aa71d5    500 MB    100% CPU     4096       4 minutes from now"
    )


SHOW = {
    "details": {"family": "llama", "parameter_size": "134.52M", "quantization_level": "Q4_1"},
    "model_info": {
        "general.architecture": "llama",
        "llama.context_length": 8192,
        "llama.embedding_length": 576.0,
    },
    "capabilities": ["completion"],
    "parameters": f'{"stop":<30} "<|im_start|>"\n{"stop":<30} "<|im_end|>"',
    "system": "You are a helpful AI assistant named SmolLM.\n\nTrained by Hugging Face.\nLine 3.",
    "license": "Apache 2.0",
}


def test_show_summary() -> None:
    assert show_summary(SHOW) == (
        "  Model\n"
        "    architecture        llama\n"
        "    parameters          134.52M\n"
        "    context length      8192\n"
        "    embedding length    576\n"
        "    quantization        Q4_1\n"
        "\n"
        "  Capabilities\n"
        "    completion\n"
        "\n"
        "  Parameters\n"
        '    stop    "<|im_start|>"\n'
        '    stop    "<|im_end|>"\n'
        "\n"
        "  System\n"
        "    You are a helpful AI assistant named SmolLM.\n"
        "    Trained by Hugging Face.\n"
        "    ...\n"
        "\n"
        "  License\n"
        "    Apache 2.0\n"
        "\n"
    )


def test_show_summary_without_model_info_uses_details() -> None:
    text = show_summary({"details": {"family": "gemma3", "parameter_size": "268M"}})
    assert "architecture    gemma3" in text
    assert "parameters      268M" in text
    assert "Capabilities" not in text


def test_format_metrics() -> None:
    final = {
        "total_duration": 1_500_000_000,
        "load_duration": 250_000_000,
        "prompt_eval_count": 10,
        "prompt_eval_duration": 100_000_000,
        "eval_count": 20,
        "eval_duration": 400_000_000,
    }
    assert format_metrics(final) == (
        "total duration:       1.5s\n"
        "load duration:        250ms\n"
        "prompt eval count:    10 token(s)\n"
        "prompt eval duration: 100ms\n"
        "prompt eval rate:     100.00 tokens/s\n"
        "eval count:           20 token(s)\n"
        "eval duration:        400ms\n"
        "eval rate:            50.00 tokens/s\n"
    )
    assert format_metrics({"eval_count": 3}) == "eval count:           3 token(s)\n"


def test_bar_line() -> None:
    line = bar_line("pulling 9077e0aa71d5", 2_000_000_000, 1_100_000_000, width=80)
    assert line.startswith("pulling 9077e0aa71d5  55% ▕")
    assert line.endswith("▏ 1.1 GB/2 GB")
    assert len(line) <= 80
    done = bar_line("pulling 9077e0aa71d5", 2_000_000_000, 2_000_000_000, width=80)
    assert done.startswith("pulling 9077e0aa71d5 100% ▕█")
    assert done.endswith("█▏ 2 GB")


def test_word_wrapper_breaks_between_words() -> None:
    out: list[str] = []
    wrapper = WordWrapper(out.append, 12)
    for piece in ["The quick br", "own fox jumps", " over the lazy dog.\nEnd"]:
        wrapper.feed(piece)
    wrapper.flush()
    lines = "".join(out).split("\n")
    assert lines == ["The quick", "brown fox", "jumps over", "the lazy", "dog.", "End"]
    assert all(len(line) <= 12 for line in lines)


@pytest.mark.parametrize(
    ("piped", "words", "prompt"),
    [
        (None, ("Why", "blue?"), "Why blue?"),
        ("text from a file\n", ("Summarize",), "text from a file\n\nSummarize"),
        ("only stdin\n", (), "only stdin\n"),
        ("", ("hi",), "hi"),
    ],
)
def test_join_prompt_puts_stdin_first_and_a_blank_line_between(
    piped: str | None, words: tuple[str, ...], prompt: str
) -> None:
    assert join_prompt(piped, words) == prompt

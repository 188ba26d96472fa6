"""Splitting thinking from the answer, streamed in any chunking."""

from __future__ import annotations

import pytest

from corral.daemon.thinking import ThinkingParser


def _run(parser: ThinkingParser, pieces: list[str]) -> tuple[str, str]:
    thinking = content = ""
    for piece in pieces:
        t, c = parser.add(piece)
        thinking += t
        content += c
    t, c = parser.finish()
    return thinking + t, content + c


TEXT = "  <think>Let me see.\n2+2 is 4.</think>\n\nThe answer is 4."


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_split_does_not_depend_on_chunking(size: int) -> None:
    pieces = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]
    thinking, content = _run(ThinkingParser("<think>", "</think>"), pieces)
    assert thinking == "Let me see.\n2+2 is 4."
    assert content == "The answer is 4."


def test_no_opening_tag_is_all_answer() -> None:
    thinking, content = _run(ThinkingParser("<think>", "</think>"), list("Just 4. <think>"))
    assert thinking == ""
    assert content == "Just 4. <think>"


def test_prompt_that_opened_the_block() -> None:
    thinking, content = _run(
        ThinkingParser("<think>", "</think>", started=True), ["hm</thi", "nk>4"]
    )
    assert (thinking, content) == ("hm", "4")


def test_unclosed_thinking_stays_thinking() -> None:
    thinking, content = _run(ThinkingParser("<think>", "</think>"), ["<think>still going</th"])
    assert (thinking, content) == ("still going</th", "")


def test_other_tags() -> None:
    parser = ThinkingParser("<|channel|>analysis", "<|end|>")
    assert _run(parser, ["<|channel|>analysis", "x<|end|>", "y"]) == ("x", "y")

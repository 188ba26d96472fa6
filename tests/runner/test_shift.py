"""Prompt truncation and context-shift arithmetic (Ollama's rules)."""

from __future__ import annotations

import pytest

from corral.runner.shift import keep_count, shift_discard, truncate_prompt


@pytest.mark.parametrize(
    ("num_keep", "n_prompt", "n_ctx", "add_bos", "expected"),
    [
        (4, 100, 64, False, 4),
        (4, 100, 64, True, 5),  # BOS comes on top of num_keep
        (0, 100, 64, False, 0),
        (-1, 10, 64, False, 10),  # -1 keeps the whole prompt
        (-1, 10, 64, True, 11),
        (-1, 100, 64, False, 63),  # but always leaves one token that can go
        (500, 10, 64, False, 63),
        (4, 3, 1, True, 0),
    ],
)
def test_keep_count(num_keep, n_prompt, n_ctx, add_bos, expected):
    assert keep_count(num_keep, n_prompt, n_ctx, add_bos=add_bos) == expected


def test_truncate_keeps_the_head_and_the_newest_tail():
    tokens = list(range(20))
    out = truncate_prompt(tokens, keep=3, n_ctx=10)
    assert out == [0, 1, 2, 13, 14, 15, 16, 17, 18, 19]
    assert len(out) == 10


def test_truncate_leaves_a_prompt_that_fits_alone():
    assert truncate_prompt([1, 2, 3], keep=2, n_ctx=3) == [1, 2, 3]
    assert truncate_prompt([], keep=0, n_ctx=3) == []


def test_truncate_with_no_keep_takes_the_last_n_ctx_tokens():
    assert truncate_prompt(list(range(8)), keep=0, n_ctx=3) == [5, 6, 7]


@pytest.mark.parametrize(
    ("n_cached", "keep", "n_ctx", "expected"),
    [
        (64, 4, 64, 30),  # full: drop half of the 60 tokens after the kept 4
        (64, 0, 64, 32),
        (63, 4, 64, 29),  # one cell is already free
        (30, 4, 64, 0),  # plenty of room: nothing to drop
        (64, 63, 64, 1),  # at least one token always goes
        (2, 1, 2, 1),
    ],
)
def test_shift_discard(n_cached, keep, n_ctx, expected):
    assert shift_discard(n_cached, keep, n_ctx) == expected


def test_a_shift_always_frees_room_when_full():
    for n_ctx in range(2, 50):
        for keep in range(n_ctx):
            discard = shift_discard(n_ctx, keep, n_ctx)
            assert 1 <= discard <= n_ctx - keep

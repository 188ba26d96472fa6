"""Slot choice and KV prefix reuse."""

from __future__ import annotations

from corral.runner.slots import Slot, pick_slot, reusable_prefix


def test_reusable_prefix_keeps_the_common_prefix():
    assert reusable_prefix([1, 2, 3, 9], [1, 2, 3, 4, 5]) == 3


def test_reusable_prefix_always_leaves_the_last_prompt_token_to_evaluate():
    assert reusable_prefix([1, 2, 3], [1, 2, 3]) == 2
    assert reusable_prefix([1, 2, 3, 4], [1, 2]) == 1
    assert reusable_prefix([], [7]) == 0
    assert reusable_prefix([1], []) == 0


def test_pick_slot_prefers_the_longest_shared_prefix():
    a = Slot(0, cache=[1, 2], last_used=5)
    b = Slot(1, cache=[1, 2, 3, 4], last_used=9)
    assert pick_slot([a, b], [1, 2, 3, 4, 5]) is b


def test_pick_slot_falls_back_to_least_recently_used():
    a = Slot(0, cache=[7], last_used=5)
    b = Slot(1, cache=[8], last_used=2)
    assert pick_slot([a, b], [1, 2]) is b


def test_pick_slot_skips_busy_slots_and_returns_none_when_all_busy():
    a = Slot(0, cache=[1, 2, 3], job=object())
    b = Slot(1, cache=[])
    assert pick_slot([a, b], [1, 2, 3]) is b
    b.job = object()
    assert pick_slot([a, b], [1, 2, 3]) is None

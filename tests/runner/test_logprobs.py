"""Log-softmax and top-k over one row of logits (the llama.cpp read is swapped for an array)."""

from __future__ import annotations

import ctypes
import math

import pytest

from corral.runner import logprobs


def _row(values: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    array = (ctypes.c_float * len(values))(*values)
    pointer = ctypes.cast(array, ctypes.POINTER(ctypes.c_float))
    monkeypatch.setattr(logprobs.ll, "llama_get_logits_ith", lambda ctx, row: pointer)
    monkeypatch.setattr(logprobs, "_keep", array, raising=False)


PIECES = {0: b"a", 1: b"b", 2: b"\xc3\xa9", 3: b"d"}


def test_logprob_is_log_softmax_with_sorted_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    logits = [1.0, 3.0, 2.0, -1.0]
    _row(logits, monkeypatch)
    entry = logprobs.token_logprobs(None, 0, 4, 2, 3, PIECES.__getitem__)
    total = math.log(sum(math.exp(x) for x in logits))
    assert entry["token"] == "é"
    assert entry["bytes"] == [0xC3, 0xA9]
    assert entry["logprob"] == pytest.approx(2.0 - total, rel=1e-6)
    alts = entry["top_logprobs"]
    assert [a["token"] for a in alts] == ["b", "é", "a"]
    assert [a["logprob"] for a in alts] == pytest.approx([x - total for x in (3.0, 2.0, 1.0)])


def test_no_alternatives_unless_asked_and_at_most_the_vocabulary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _row([0.0, 0.0], monkeypatch)
    entry = logprobs.token_logprobs(None, 0, 2, 0, 0, {0: b"x", 1: b"y"}.__getitem__)
    assert "top_logprobs" not in entry
    assert entry["logprob"] == pytest.approx(math.log(0.5))
    entry = logprobs.token_logprobs(None, 0, 2, 0, 20, {0: b"x", 1: b"y"}.__getitem__)
    assert len(entry["top_logprobs"]) == 2

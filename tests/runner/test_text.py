"""Pure text logic of the runner: UTF-8 assembly, stop holdback, prefix matching."""

from __future__ import annotations

import pytest

from corral.runner.text import PieceAssembler, StopMatcher, common_prefix_len


def run_stop(stops: list[str], chunks: list[str]) -> tuple[list[str], str, bool]:
    m = StopMatcher(stops)
    emitted = [m.feed(c) for c in chunks]
    return emitted, m.flush(), m.stopped


def test_common_prefix_len():
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([1, 2], [1, 2, 3]) == 2
    assert common_prefix_len([], [1]) == 0
    assert common_prefix_len([5], [6]) == 0


def test_assembler_never_splits_a_multibyte_character():
    data = "é€😀".encode()
    a = PieceAssembler()
    out = [a.feed(data[i : i + 1]) for i in range(len(data))]
    assert "".join(out) + a.flush() == "é€😀"
    # Every emitted piece is whole characters: re-encoding round-trips piecewise.
    assert all(p.encode().decode() == p for p in out)
    assert out[0] == ""  # first byte of é alone is not a character yet
    assert out[1] == "é"


def test_assembler_replaces_invalid_bytes_and_drops_an_incomplete_tail():
    a = PieceAssembler()
    assert a.feed(b"ok\xff") == "ok\ufffd"
    assert a.feed(b"\xe2\x82") == ""
    assert a.flush() == ""
    assert a.feed(b"x") == "x"


def test_stop_string_inside_one_piece_is_cut():
    emitted, tail, stopped = run_stop(["STOP"], ["hello STOP world"])
    assert emitted == ["hello "]
    assert tail == ""
    assert stopped


def test_stop_string_split_across_pieces_is_held_back_then_cut():
    emitted, tail, stopped = run_stop(["</end>"], ["abc</", "en", "d> more"])
    assert "".join(emitted) == "abc"
    assert emitted[0] == "abc"  # "</" held back
    assert stopped and tail == ""


def test_held_text_is_released_when_it_turns_out_not_to_be_a_stop():
    emitted, tail, stopped = run_stop(["</end>"], ["abc</", "b>"])
    assert emitted == ["abc", "</b>"]
    assert not stopped and tail == ""


def test_held_text_is_flushed_at_the_end():
    emitted, tail, stopped = run_stop(["</end>"], ["abc</en"])
    assert emitted == ["abc"]
    assert tail == "</en"
    assert not stopped


def test_earliest_of_several_stops_wins():
    emitted, _, stopped = run_stop(["world", "lo w"], ["hello world"])
    assert emitted == ["hel"]
    assert stopped


def test_nothing_is_emitted_after_a_stop():
    m = StopMatcher(["x"])
    assert m.feed("axb") == "a"
    assert m.feed("more") == ""
    assert m.flush() == ""


def test_no_stops_passes_text_through():
    emitted, tail, stopped = run_stop([], ["a", "b"])
    assert emitted == ["a", "b"] and tail == "" and not stopped


@pytest.mark.parametrize("text", ["Paris is nice.\n\nUser:", "x\nUser: hi", "UsUser:"])
def test_output_never_contains_the_stop_string(text):
    for size in range(1, 5):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        emitted, tail, _ = run_stop(["User:"], chunks)
        out = "".join(emitted) + tail
        assert "User:" not in out
        assert text.startswith(out)

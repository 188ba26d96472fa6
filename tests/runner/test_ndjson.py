"""The runner's NDJSON lines for each engine event."""

from __future__ import annotations

import json

from corral.errors import RunnerError
from corral.runner.body import ndjson
from corral.runner.events import Done, Failed, Piece


def test_a_piece_is_one_json_line_that_does_not_end_the_stream():
    data, finished = ndjson(Piece('say "héllo"\n😀'))
    assert not finished
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {"content": 'say "héllo"\n😀'}


def test_done_and_failed_end_the_stream():
    done = Done("length", 3, 10, 5, 20)
    data, finished = ndjson(done)
    assert finished and json.loads(data) == done.to_json()
    data, finished = ndjson(Failed(RunnerError("decoding failed")))
    assert finished and json.loads(data) == {"error": "decoding failed"}

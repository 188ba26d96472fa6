"""The daemon reads a runner's HTTP/1.0 response head itself: its status, or a clear refusal."""

from __future__ import annotations

import pytest

from corral.daemon.runners import _status


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"HTTP/1.0 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n", 200),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", 400),
    ],
)
def test_the_status_code_is_read_from_the_first_line(head: bytes, status: int) -> None:
    assert _status(head) == status


@pytest.mark.parametrize("head", [b"", b"garbage\r\n\r\n", b"HTTP/1.0 OK\r\n\r\n"])
def test_anything_else_is_not_an_http_response(head: bytes) -> None:
    with pytest.raises(ValueError, match="not an HTTP response"):
        _status(head)

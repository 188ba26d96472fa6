"""The daemon reads a runner's HTTP/1.0 completion stream itself: status, lines, and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from corral.daemon import runnerstream
from corral.daemon.runnerstream import CompletionStream, open_completion, status_of

OK_HEAD = b"HTTP/1.0 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"HTTP/1.0 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n", 200),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", 400),
    ],
)
def test_the_status_code_is_read_from_the_first_line(head: bytes, status: int) -> None:
    assert status_of(head) == status


@pytest.mark.parametrize("head", [b"", b"garbage\r\n\r\n", b"HTTP/1.0 OK\r\n\r\n"])
def test_anything_else_is_not_an_http_response(head: bytes) -> None:
    with pytest.raises(ValueError, match="not an HTTP response"):
        status_of(head)


Exchange = Callable[["Serve"], Awaitable[CompletionStream]]
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[Callable[[Serve], Awaitable[CompletionStream]]]:
    """Send a completion request to a runner stand-in on a real Unix socket that answers
    with what `serve` writes."""
    servers: list[asyncio.Server] = []

    async def start(serve: Serve) -> CompletionStream:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            try:
                await serve(reader, writer)
            finally:
                writer.close()

        path = str(tmp_path / f"socket{len(servers)}")
        servers.append(await asyncio.start_unix_server(handle, path))
        return await open_completion(path, b"{}")

    yield start
    for server in servers:
        server.close()


async def _lines(stream: CompletionStream) -> list[bytes]:
    lines = []
    while (line := await stream.line()) is not None:
        lines.append(line)
    return lines


def _pieces(*parts: bytes) -> Serve:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.01)  # each part arrives on its own

    return serve


async def test_lines_split_across_reads_come_out_whole(exchange: Exchange) -> None:
    stream = await exchange(
        _pieces(OK_HEAD[:7], OK_HEAD[7:] + b'{"content":"a', b'"}\n\n{"done"', b":true}\n")
    )
    assert await stream.status() == 200
    assert await _lines(stream) == [b'{"content":"a"}', b'{"done":true}']


async def test_an_error_status_gives_its_whole_body(exchange: Exchange) -> None:
    stream = await exchange(
        _pieces(b"HTTP/1.0 400 Bad Request\r\n\r\n", b'{"error":', b' "bad"}\n')
    )
    assert await stream.status() == 400
    assert await stream.body() == b'{"error": "bad"}\n'


async def test_a_response_that_is_not_http_is_refused(exchange: Exchange) -> None:
    stream = await exchange(_pieces(b"SSH-2.0-OpenSSH\r\n\r\n"))
    with pytest.raises(ValueError, match="not an HTTP response"):
        await stream.status()


async def test_a_closed_connection_before_the_head_is_an_error(exchange: Exchange) -> None:
    stream = await exchange(_pieces(b"HTTP/1.0 200"))
    with pytest.raises(ConnectionResetError, match="before it answered"):
        await stream.status()


async def test_a_stream_cut_in_the_middle_of_a_line_is_an_error(exchange: Exchange) -> None:
    stream = await exchange(_pieces(OK_HEAD, b'{"content":"a"}\n{"cont'))
    assert await stream.line() == b'{"content":"a"}'
    with pytest.raises(ValueError, match="in the middle of a line"):
        await stream.line()


async def test_a_line_longer_than_the_limit_is_refused(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runnerstream, "MAX_LINE", 1000)
    stream = await exchange(_pieces(OK_HEAD, b"x" * 600, b"x" * 600))
    assert await stream.status() == 200
    with pytest.raises(ValueError, match="longer than 1000 bytes"):
        await stream.line()


async def test_a_reader_that_is_behind_pauses_the_socket_and_loses_nothing(
    exchange: Exchange,
) -> None:
    count = 5000
    padding = "x" * 1000  # 5 MB: more than the sockets' buffers hold
    written = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(OK_HEAD)
        for i in range(count):
            writer.write(b'{"n":%d,"p":"%s"}\n' % (i, padding.encode()))
        await writer.drain()
        written.set()

    stream = await exchange(serve)
    assert await stream.status() == 200
    await asyncio.sleep(0.2)  # the reader takes nothing while the runner writes
    assert not written.is_set(), "the daemon read everything without pausing"
    expected = [b'{"n":%d,"p":"%s"}' % (i, padding.encode()) for i in range(count)]
    assert await _lines(stream) == expected


async def test_plain_pieces_go_to_the_forward_and_every_other_line_to_the_reader(
    exchange: Exchange,
) -> None:
    taken: list[bytes] = []

    def forward(text: bytes) -> bool:
        taken.append(text)
        return True

    stream = await exchange(
        _pieces(
            OK_HEAD,
            b'{"content":"a"}\n{"content":"say \\"}\\""}\n',
            b'{"content":"b","logprobs":[{"token":"b"}]}\n{"done":true}\n',
        )
    )
    stream.forward(forward)
    assert await _lines(stream) == [b'{"content":"b","logprobs":[{"token":"b"}]}', b'{"done":true}']
    assert taken == [b'"a"', b'"say \\"}\\""']


async def test_a_declined_piece_keeps_the_pieces_after_it_in_line(exchange: Exchange) -> None:
    answers = [True, False]
    asked: list[bytes] = []

    def forward(text: bytes) -> bool:
        asked.append(text)
        return answers.pop(0)

    stream = await exchange(
        _pieces(
            OK_HEAD, b'{"content":"1"}\n{"content":"2"}\n{"content":"3"}\n', b'{"content":"4"}\n'
        )
    )
    stream.forward(forward)
    await asyncio.sleep(0.2)  # everything has arrived before the reader takes anything
    # "2" was declined, so "3" and "4" wait behind it rather than overtake it.
    assert asked == [b'"1"', b'"2"']
    assert await _lines(stream) == [b'{"content":"2"}', b'{"content":"3"}', b'{"content":"4"}']

"""`PieceRelay` writes a streamed piece to the client as the chunk the usual path would."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from corral import wirejson
from corral.daemon import anthropic_wire, openai_wire, sse
from corral.daemon.routes_generate import Part, _native_chunk, _native_relay
from corral.daemon.streaming import TEXT, PieceRelay

TEXTS = ["Hello", ' say "hi"\n', "é😀", "back\\slash", "\x01\t"]


@pytest.fixture
async def client() -> AsyncIterator[tuple[asyncio.Transport, socket.socket]]:
    """A real transport writing to a socket the test reads as the client."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    theirs.setblocking(False)
    yield transport, theirs  # type: ignore[misc]
    transport.close()
    theirs.close()


async def _received(reader: socket.socket) -> bytes:
    await asyncio.sleep(0.05)
    data = b""
    while True:
        try:
            more = reader.recv(1 << 20)
        except BlockingIOError:
            return data
        if not more:  # the transport closed
            return data
        data += more


def _unchunk(body: bytes) -> list[bytes]:
    lines = []
    while body:
        size, rest = body.split(b"\r\n", 1)
        length = int(size, 16)
        lines.append(rest[:length])
        assert rest[length : length + 2] == b"\r\n"
        body = rest[length + 2 :]
    return lines


@pytest.mark.parametrize("chat", [False, True])
async def test_each_chunk_is_byte_for_byte_the_native_event(
    client: tuple[asyncio.Transport, socket.socket], chat: bool
) -> None:
    transport, reader = client
    relay = _native_relay("smollm2:135m", chat=chat)
    relay.start(transport, chunked=True)
    for text in TEXTS:
        assert relay(wirejson.dumps(text))
    lines = _unchunk(await _received(reader))
    assert len(lines) == len(TEXTS)
    for line, text in zip(lines, TEXTS, strict=True):
        assert line.endswith(b"\n")
        event = json.loads(line)
        expected = _native_chunk("smollm2:135m", Part(content=text), chat=chat)
        expected["created_at"] = event["created_at"]
        assert line == wirejson.dumps(expected) + b"\n"


async def test_without_chunking_the_lines_run_on(
    client: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, reader = client
    relay = _native_relay("m", chat=False)
    relay.start(transport, chunked=False)
    assert relay(b'"a"') and relay(b'"b"')
    lines = (await _received(reader)).splitlines()
    assert [json.loads(line)["response"] for line in lines] == ["a", "b"]


async def test_it_declines_before_it_is_started_and_once_the_client_is_gone(
    client: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, reader = client
    relay = _native_relay("m", chat=False)
    assert not relay(b'"early"')
    relay.start(transport, chunked=True)
    transport.close()
    assert not relay(b'"late"')
    assert await _received(reader) == b""


async def test_it_declines_while_the_client_is_behind(
    client: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, reader = client
    relay = _native_relay("m", chat=False)
    relay.start(transport, chunked=True)
    backlog = b"x" * (4 << 20)  # more than the socket holds: the rest waits in the transport
    transport.write(backlog)
    assert transport.get_write_buffer_size() > 0
    assert not relay(b'"behind"')
    # Once the client has read the backlog, pieces are written again, after it.
    received = b""
    while len(received) < len(backlog):
        await asyncio.sleep(0.01)
        received += await _received(reader)
    assert transport.get_write_buffer_size() == 0
    assert relay(b'"caught up"')
    line = _unchunk((received + await _received(reader))[len(backlog) :])
    assert [json.loads(x)["response"] for x in line] == ["caught up"]


def _text(text: str) -> dict[str, object]:
    return {"message": {"content": text}}


def _usual(api: str) -> Callable[[str], list[sse.Event]]:
    """The usual path's events for a chunk of text, once the stream's first chunk is out."""
    if api == "openai chat":
        chat = openai_wire.ChatStream(model="m")
        chat.feed(_text("first"))  # the first chunk carries the role
        return lambda text: [(None, c) for c in chat.feed(_text(text))]
    if api == "openai completions":
        completion = openai_wire.CompletionStream(model="m", echo_prompt="prompt: ")
        completion.feed({"response": "first"})  # the first chunk carries the echo
        return lambda text: [(None, c) for c in completion.feed({"response": text})]
    messages = anthropic_wire.MessageStream(model="m")
    messages.feed(_text("first"))  # message_start, ping, content_block_start, a delta
    return lambda text: messages.feed(_text(text))


@pytest.mark.parametrize("api", ["openai chat", "openai completions", "anthropic"])
async def test_each_event_is_byte_for_byte_the_sse_event(
    client: tuple[asyncio.Transport, socket.socket], api: str
) -> None:
    transport, reader = client
    usual = _usual(api)
    relay = PieceRelay(lambda: sse.frame(usual(TEXT)))
    relay.start(transport, chunked=False)
    for text in TEXTS:
        assert relay(wirejson.dumps(text))
    expected = b"".join(sse.encode(*event) for text in TEXTS for event in usual(text))
    assert await _received(reader) == expected


async def test_a_frame_without_the_text_relays_nothing(
    client: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, reader = client
    relay = PieceRelay(lambda: sse.frame([]))
    relay.start(transport, chunked=True)
    assert not relay(b'"a"')
    assert await _received(reader) == b""


async def test_the_frame_is_asked_for_once_and_only_when_a_piece_comes(
    client: tuple[asyncio.Transport, socket.socket],
) -> None:
    # Making a frame runs the route's encoder, which a stream that never relays (one
    # with tool calls, say) must not see.
    transport, reader = client
    asked: list[int] = []

    def frame() -> bytes:
        asked.append(1)
        return b"<" + wirejson.dumps(TEXT) + b">"

    relay = PieceRelay(frame)
    relay.start(transport, chunked=False)
    assert asked == []
    assert relay(b'"a"') and relay(b'"b"')
    assert asked == [1]
    assert await _received(reader) == b'<"a"><"b">'

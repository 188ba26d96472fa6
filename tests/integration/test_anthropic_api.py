"""The Anthropic-compatible API, driven by the official `anthropic` package against real SmolLM2."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.integration.compat_models import create_tools_model
from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

HELLO = [{"role": "user", "content": "Name three colours."}]
GREEDY = {"temperature": 0}
"""This SDK release no longer has sampling keywords; older ones (and other clients) still
send `temperature`, `top_p` and `top_k`, so the tests send them as extra body fields."""


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=daemon.url, api_key="unused", max_retries=0)


def _create(
    client: anthropic.Anthropic, sampling: dict[str, object] | None = None, **extra: object
) -> anthropic.types.Message:
    arguments: dict[str, object] = {"model": CATALOG_MODEL, "max_tokens": 6, "messages": HELLO}
    arguments.update(extra)
    body = {**GREEDY, **(sampling or {})}
    return client.messages.create(**arguments, extra_body=body)


def test_message(client: anthropic.Anthropic) -> None:
    message = _create(client, {"top_p": 0.9, "top_k": 20}, system="You are terse.")
    assert re.fullmatch(r"msg_[0-9a-f]{24}", message.id)
    assert message.type == "message" and message.role == "assistant"
    assert message.model == CATALOG_MODEL
    [block] = message.content
    assert block.type == "text" and block.text
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 6 and message.usage.input_tokens > 0


def test_system_blocks_equal_a_system_string(client: anthropic.Anthropic) -> None:
    # Text blocks are joined with newlines; under greedy decoding the answers match.
    as_string = _create(client, system="You are terse.\nAnswer in French.")
    as_blocks = _create(
        client,
        system=[
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Answer in French."},
        ],
    )
    assert as_blocks.content == as_string.content


def test_stop_sequences_end_the_turn(client: anthropic.Anthropic) -> None:
    full = _create(client, max_tokens=12).content[0].text
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]
    message = _create(client, max_tokens=12, stop_sequences=[stop])
    assert message.content[0].text == full[: full.index(stop)]
    assert message.stop_reason == "end_turn"


def test_content_blocks_and_history(client: anthropic.Anthropic) -> None:
    message = _create(
        client,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Say a colour."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Blue."}]},
            {"role": "user", "content": [{"type": "text", "text": "Another one."}]},
        ],
    )
    assert message.content[0].type == "text"


def test_thinking_on_a_model_without_it_is_dropped(client: anthropic.Anthropic) -> None:
    message = _create(client, max_tokens=4, thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b.type for b in message.content] == ["text"]


def test_stream_through_the_sdk(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=CATALOG_MODEL, max_tokens=6, messages=HELLO, extra_body=GREEDY
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert final.content[0].text == _create(client).content[0].text
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 6


def _events(raw: str) -> list[tuple[str, dict]]:
    events = []
    for block in raw.strip().split("\n\n"):
        name_line, data_line = block.split("\n")
        events.append(
            (name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: ")))
        )
    return events


def test_stream_event_sequence_on_the_wire(daemon: Daemon) -> None:
    body = {"model": CATALOG_MODEL, "max_tokens": 3, "messages": HELLO, "stream": True}
    with httpx.stream("POST", f"{daemon.url}/v1/messages", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.read().decode())
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert all(data["index"] == 0 for _, data in events[2:-2])
    assert all(data["type"] == name for name, data in events)
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[-2][1]["usage"]["output_tokens"] == 3


async def test_async_message_and_stream(daemon: Daemon) -> None:
    client = anthropic.AsyncAnthropic(base_url=daemon.url, api_key="unused", max_retries=0)
    message = await client.messages.create(
        model=CATALOG_MODEL, max_tokens=4, messages=HELLO, extra_body=GREEDY
    )
    async with client.messages.stream(
        model=CATALOG_MODEL, max_tokens=4, messages=HELLO, extra_body=GREEDY
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
    assert text == message.content[0].text
    await client.close()


def test_count_tokens_matches_the_runner(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, list[dict[str, object]]]
) -> None:
    # A fresh daemon: its first request evaluates the whole prompt (no cached prefix),
    # so `usage.input_tokens` is the prompt's full token count.
    fresh = make_daemon(seeded_models[0])
    client = anthropic.Anthropic(base_url=fresh.url, api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "Count the tokens of this sentence, please."}]
    message = client.messages.create(
        model=CATALOG_MODEL, max_tokens=1, system="Be exact.", messages=messages
    )
    counted = client.messages.count_tokens(
        model=CATALOG_MODEL, system="Be exact.", messages=messages
    )
    assert counted.input_tokens == message.usage.input_tokens > 10
    longer = client.messages.count_tokens(
        model=CATALOG_MODEL,
        system="Be exact.",
        messages=[{"role": "user", "content": "Count the tokens of this longer sentence, please."}],
    )
    assert longer.input_tokens > counted.input_tokens


def test_tools_on_a_model_without_tool_support(client: anthropic.Anthropic) -> None:
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
    with pytest.raises(anthropic.BadRequestError) as info:
        _create(client, tools=[tool])
    assert "does not support tools" in info.value.message
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_unknown_model(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        _create(client, model="no-such-model:1b")
    assert info.value.body == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": 'model "no-such-model:1b" not found, try pulling it first',
        },
    }
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="no-such-model:1b", messages=HELLO)


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v1/messages", {"model": CATALOG_MODEL, "messages": HELLO}, "max_tokens is required"),
        (
            "/v1/messages",
            {"model": CATALOG_MODEL, "max_tokens": 5, "messages": []},
            "messages is required",
        ),
        ("/v1/messages", {"max_tokens": 5, "messages": HELLO}, "model is required"),
        (
            "/v1/messages",
            {"model": CATALOG_MODEL, "max_tokens": 5, "messages": HELLO, "top_k": "many"},
            '"top_k"',
        ),
        (
            "/v1/messages",
            {
                "model": CATALOG_MODEL,
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "audio"}]}],
            },
            "unsupported content block type",
        ),
        ("/v1/messages/count_tokens", {"model": CATALOG_MODEL, "messages": []}, "messages"),
        (
            "/v1/messages",
            {
                "model": CATALOG_MODEL,
                "max_tokens": 5,
                "messages": HELLO,
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "launch_rockets"},
            },
            '"launch_rockets", which is not in tools',
        ),
        ("/v1/messages", b"{not json", "invalid JSON"),
    ],
)
def test_bad_requests_get_anthropic_errors(
    daemon: Daemon, path: str, body: dict | bytes, needle: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(f"{daemon.url}{path}", content=content, timeout=30)
    assert response.status_code == 400
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert needle in payload["error"]["message"]


def test_bad_request_through_the_sdk(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=CATALOG_MODEL, max_tokens=5, messages=[])
    assert "messages is required" in info.value.message


def test_tool_use_and_tool_result_reach_the_template(daemon: Daemon) -> None:
    model = create_tools_model(daemon)
    body = {
        "model": model,
        "max_tokens": 5,
        "system": "Use tools.",
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                    {"type": "text", "text": "Thanks."},
                ],
            },
        ],
        "_debug_render_only": True,
    }
    response = httpx.post(f"{daemon.url}/v1/messages", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["_debug_info"]["rendered_template"] == (
        "TOOLS: get_weather\nsystem: Use tools.\nuser: Weather in Paris?\n"
        "assistant: CALL get_weather\ntool: sunny [toolu_1]\nuser: Thanks.\nassistant:"
    )
    count = httpx.post(f"{daemon.url}/v1/messages/count_tokens", json=body, timeout=120)
    assert count.status_code == 200 and count.json()["input_tokens"] > 20

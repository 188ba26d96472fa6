"""The Anthropic ⇄ native translation, as pure functions (no daemon, no model)."""

from __future__ import annotations

import json
import re

import pytest

from corral.daemon import anthropic_wire as wire
from corral.errors import InvalidRequest

USER = [{"role": "user", "content": "hi"}]


def messages(**body):
    return wire.messages_request({"model": "m", "max_tokens": 16, "messages": USER, **body})


def test_fields_map_to_native_options() -> None:
    req = messages(temperature=0.1, top_p=0.7, top_k=5, stop_sequences=["END", "STOP"], stream=True)
    assert req.stream is True and req.native.stream is True
    assert req.native.options == {
        "num_predict": 16,
        "temperature": 0.1,
        "top_p": 0.7,
        "top_k": 5,
        "stop": ["END", "STOP"],
    }


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("Be brief.", "Be brief."),
        ([{"type": "text", "text": "A"}, {"type": "text", "text": "B"}], "A\nB"),
    ],
)
def test_system_string_or_blocks_becomes_the_first_message(system, expected) -> None:
    native = messages(system=system).native
    assert native.messages[0].role == "system" and native.messages[0].content == expected
    assert native.messages[1].content == "hi"


def test_content_blocks_text_image_and_thinking() -> None:
    blocks = [
        {"type": "text", "text": "Look: "},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR="},
        },
        {"type": "text", "text": "what is it?"},
    ]
    history = [
        {"role": "user", "content": blocks},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": ""},
                {"type": "text", "text": "A cat."},
            ],
        },
    ]
    native = wire.messages_request({"model": "m", "max_tokens": 5, "messages": history}).native
    user, assistant = native.messages
    assert user.content == "Look: what is it?" and user.images == ("iVBOR=",)
    assert assistant.thinking == "hmm" and assistant.content == "A cat."


TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def test_tools_become_native_functions() -> None:
    native = messages(tools=[TOOL]).native
    assert native.tools == (
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": TOOL["input_schema"],
                "description": "Weather for a city",
            },
        },
    )
    assert messages(tools=[TOOL], tool_choice={"type": "none"}).native.tools == ()
    assert len(messages(tools=[TOOL], tool_choice={"type": "any"}).native.tools) == 1
    with pytest.raises(InvalidRequest, match='"other", which is not in tools'):
        messages(tools=[TOOL], tool_choice={"type": "tool", "name": "other"})


def test_tool_use_and_tool_result_blocks_round_trip() -> None:
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "sunny"}],
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    native = wire.messages_request(
        {"model": "m", "max_tokens": 5, "messages": history, "tools": [TOOL]}
    ).native
    roles = [m.role for m in native.messages]
    assert roles == ["user", "assistant", "tool", "user"]
    assert native.messages[1].tool_calls == (
        {
            "id": "toolu_1",
            "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
        },
    )
    tool = native.messages[2]
    assert (
        tool.content == "sunny"
        and tool.tool_call_id == "toolu_1"
        and tool.tool_name == "get_weather"
    )
    assert native.messages[3].content == "And tomorrow?"


@pytest.mark.parametrize(
    ("thinking", "think"),
    [({"type": "enabled", "budget_tokens": 1024}, True), ({"type": "disabled"}, False)],
)
def test_thinking_maps_to_think(thinking, think) -> None:
    assert messages(thinking=thinking).native.think is think
    assert messages(output_config={"effort": "xhigh"}).native.think == "high"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 5, "messages": USER}, "model is required"),
        ({"model": "m", "messages": USER}, "max_tokens is required and must be positive"),
        (
            {"model": "m", "max_tokens": 0, "messages": USER},
            "max_tokens is required and must be positive",
        ),
        (
            {"model": "m", "max_tokens": "5", "messages": USER},
            "max_tokens is required and must be positive",
        ),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages is required"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            r'"messages\[0\].role"',
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 3}]},
            r'"messages\[0\].content"',
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "video"}]}],
            },
            "unsupported content block type",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "http://x"}}
                        ],
                    }
                ],
            },
            "invalid image source type",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "temperature": "hot"},
            'invalid value for "temperature"',
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "stop_sequences": "END"},
            'invalid value for "stop_sequences"',
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "thinking": {"type": "maybe"}},
            'invalid value for "thinking"',
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "system": 5},
            'invalid value for "system"',
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": USER, "tools": [{"description": "x"}]},
            r'"tools\[0\]"',
        ),
    ],
)
def test_bad_messages_requests_name_the_problem(body, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        wire.messages_request(body)


def test_count_only_does_not_need_max_tokens() -> None:
    req = wire.messages_request({"model": "m", "messages": USER}, count_only=True)
    assert "num_predict" not in req.native.options


NATIVE_CALL = {
    "id": "call_1",
    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
}


def final(**extra):
    return {
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 9,
        "eval_count": 3,
        "message": {"role": "assistant", "content": ""},
        **extra,
    }


@pytest.mark.parametrize(
    ("done_reason", "tool_use", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("stop", True, "tool_use"),
        ("stop_sequence", False, "stop_sequence"),
    ],
)
def test_stop_reason(done_reason, tool_use, expected) -> None:
    assert wire.stop_reason(done_reason, tool_use=tool_use) == expected


def test_message_response_blocks() -> None:
    message = {"role": "assistant", "content": "Hi", "thinking": "hmm", "tool_calls": [NATIVE_CALL]}
    folded = final(message=message)
    body = wire.message_response(folded, id_="msg_1", model="m")
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": ""},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert body["stop_reason"] == "tool_use" and body["usage"] == {
        "input_tokens": 9,
        "output_tokens": 3,
    }
    assert re.fullmatch(r"msg_[0-9a-f]{24}", wire.new_message_id())


def test_stream_event_sequence() -> None:
    stream = wire.MessageStream(model="m")
    events = []
    for event in [
        {"message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False},
        {"message": {"role": "assistant", "content": "", "thinking": "m"}, "done": False},
        {"message": {"role": "assistant", "content": "Hi"}, "done": False},
        {"message": {"role": "assistant", "content": " there"}, "done": False},
        {
            "message": {"role": "assistant", "content": "", "tool_calls": [NATIVE_CALL]},
            "done": False,
        },
        final(),
    ]:
        events += stream.feed(event)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",  # thinking
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # signature
        "content_block_stop",
        "content_block_start",  # text
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # tool_use
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    starts = [data for name, data in events if name == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert [s["content_block"]["type"] for s in starts] == ["thinking", "text", "tool_use"]
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert deltas[0] == {"type": "thinking_delta", "thinking": "hm"}
    assert deltas[2] == {"type": "signature_delta", "signature": ""}
    assert deltas[3] == {"type": "text_delta", "text": "Hi"}
    assert json.loads(deltas[5]["partial_json"]) == {"city": "Paris"}
    message_delta = events[-2][1]
    assert message_delta["delta"]["stop_reason"] == "tool_use"
    assert message_delta["usage"] == {"input_tokens": 9, "output_tokens": 3}
    assert events[0][1]["message"]["id"] == stream.id and events[0][1]["message"]["content"] == []


def test_stream_of_an_empty_answer_still_ends_properly() -> None:
    names = [name for name, _ in wire.MessageStream(model="m").feed(final(done_reason="length"))]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]

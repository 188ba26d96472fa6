"""The OpenAI ⇄ native translation, as pure functions (no daemon, no model)."""

from __future__ import annotations

import json
import re

import pytest

from corral.daemon import openai_wire as wire
from corral.errors import InvalidRequest

USER = [{"role": "user", "content": "hi"}]


def chat(**body):
    return wire.chat_request({"model": "m", "messages": USER, **body})


def test_defaults_follow_ollama() -> None:
    req = chat()
    assert req.stream is False and req.include_usage is False
    assert req.native.model == "m" and req.native.stream is True
    assert req.native.options["temperature"] == 1.0
    assert req.native.options["top_p"] == 1.0
    assert "num_predict" not in req.native.options
    assert req.native.format is None and req.native.tools == () and req.native.think is None


def test_sampling_fields_map_to_native_options() -> None:
    req = chat(
        temperature=0.2,
        top_p=0.5,
        max_tokens=7,
        seed=42,
        stop="END",
        frequency_penalty=0.3,
        presence_penalty=0.4,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert req.native.options == {
        "temperature": 0.2,
        "top_p": 0.5,
        "num_predict": 7,
        "seed": 42,
        "stop": ["END"],
        "frequency_penalty": 0.3,
        "presence_penalty": 0.4,
    }
    assert req.stream and req.include_usage


def test_max_completion_tokens_wins_and_stop_list() -> None:
    req = chat(max_tokens=5, max_completion_tokens=9, stop=["a", "b"])
    assert req.native.options["num_predict"] == 9
    assert req.native.options["stop"] == ["a", "b"]


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, "json"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            {"type": "object"},
        ),
    ],
)
def test_response_format_maps_to_native_format(response_format, expected) -> None:
    assert chat(response_format=response_format).native.format == expected


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "xml"},
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"schema": 3}},
        "json",
    ],
)
def test_bad_response_format_is_rejected(response_format) -> None:
    with pytest.raises(InvalidRequest, match="response_format"):
        chat(response_format=response_format)


def test_json_schema_that_cannot_compile_is_rejected_before_any_run() -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "strnig"}}}
    with pytest.raises(InvalidRequest, match='unknown type "strnig"'):
        chat(response_format=bad)


@pytest.mark.parametrize(
    ("effort", "think"),
    [
        ("none", False),
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "max"),
    ],
)
def test_reasoning_effort_maps_to_think(effort, think) -> None:
    assert chat(reasoning_effort=effort).native.think == think
    assert chat(reasoning={"effort": effort}).native.think == think


def test_bad_reasoning_effort_names_the_value() -> None:
    with pytest.raises(InvalidRequest, match='invalid reasoning value: "huge"'):
        chat(reasoning_effort="huge")


def test_logprobs_map_and_top_logprobs_is_bounded() -> None:
    req = chat(logprobs=True, top_logprobs=3)
    assert req.native.logprobs is True and req.native.top_logprobs == 3
    with pytest.raises(InvalidRequest, match="top_logprobs must be between 0 and 20"):
        chat(logprobs=True, top_logprobs=21)


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
OTHER = {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}}


def test_tools_pass_through_and_tool_choice_filters() -> None:
    assert chat(tools=[TOOL, OTHER]).native.tools == (TOOL, OTHER)
    assert chat(tools=[TOOL, OTHER], tool_choice="auto").native.tools == (TOOL, OTHER)
    assert chat(tools=[TOOL, OTHER], tool_choice="required").native.tools == (TOOL, OTHER)
    assert chat(tools=[TOOL, OTHER], tool_choice="none").native.tools == ()
    named = {"type": "function", "function": {"name": "other"}}
    assert chat(tools=[TOOL, OTHER], tool_choice=named).native.tools == (OTHER,)


def test_tool_choice_naming_an_undeclared_tool_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match='"nope", which is not in tools'):
        chat(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "nope"}})


def test_tool_call_round_trip_messages() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"},
    ]
    native = wire.chat_request({"model": "m", "messages": messages, "tools": [TOOL]}).native
    assistant, tool = native.messages[1], native.messages[2]
    assert assistant.tool_calls == (
        {
            "id": "call_abc",
            "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
        },
    )
    assert tool.role == "tool" and tool.content == "sunny"
    assert tool.tool_call_id == "call_abc" and tool.tool_name == "get_weather"


def test_tool_call_arguments_must_be_a_json_string() -> None:
    bad = [
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}],
        }
    ]
    with pytest.raises(InvalidRequest, match="invalid tool call arguments"):
        wire.chat_request({"model": "m", "messages": bad})


def test_content_parts_become_messages_with_images() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    native = wire.chat_request(
        {"model": "m", "messages": [{"role": "user", "content": parts}]}
    ).native
    assert [m.content for m in native.messages] == ["What is this?", ""]
    assert native.messages[1].images == ("iVBORw0KGgo=",)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://example.com/cat.png", "image URLs are not currently supported"),
        ("data:text/plain;base64,aGk=", "invalid image input"),
    ],
)
def test_bad_image_parts_are_rejected(url, message) -> None:
    part = {"type": "image_url", "image_url": url}
    with pytest.raises(InvalidRequest, match=message):
        wire.chat_request({"model": "m", "messages": [{"role": "user", "content": [part]}]})


def test_assistant_reasoning_becomes_thinking() -> None:
    messages = [*USER, {"role": "assistant", "content": "ok", "reasoning": "hmm"}]
    native = wire.chat_request({"model": "m", "messages": messages}).native
    assert native.messages[1].thinking == "hmm"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": USER}, "model is required"),
        ({"model": "m", "messages": []}, r"\[\] is too short - 'messages'"),
        ({"model": "m"}, r"\[\] is too short - 'messages'"),
        ({"model": 3, "messages": USER}, 'invalid value for "model"'),
        ({"model": "m", "messages": "hi"}, 'invalid value for "messages"'),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, r'"messages\[0\].content"'),
        ({"model": "m", "messages": USER, "temperature": "hot"}, 'invalid value for "temperature"'),
        (
            {"model": "m", "messages": USER, "max_tokens": -1},
            "max_tokens must be at least 1, got -1",
        ),
        ({"model": "m", "messages": USER, "stop": [1]}, "invalid type for 'stop' field"),
        ({"model": "m", "messages": USER, "n": 1000}, "n must be 1"),
        ({"model": "m", "messages": USER, "logit_bias": {"5": 100}}, "logit_bias"),
        ({"model": "m", "messages": USER, "stream": "yes"}, 'invalid value for "stream"'),
        ({"model": "m", "messages": USER, "tools": [{"type": "function"}]}, r'"tools\[0\]"'),
        ({"model": "m", "messages": USER, "tool_choice": "sometimes"}, "invalid tool_choice"),
    ],
)
def test_bad_chat_requests_name_the_problem(body, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        wire.chat_request(body)


def test_completion_request_maps_suffix_echo_and_logprobs() -> None:
    req = wire.completion_request(
        {
            "model": "m",
            "prompt": "def f(",
            "suffix": "return x",
            "echo": True,
            "logprobs": 2,
            "max_tokens": 3,
        }
    )
    assert req.native.prompt == "def f(" and req.native.suffix == "return x"
    assert req.echo is True and req.logprobs == 2
    assert req.native.logprobs is True and req.native.top_logprobs == 2
    assert req.native.options["num_predict"] == 3
    assert wire.completion_request({"model": "m", "prompt": ["one"]}).native.prompt == "one"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "x"}, "model is required"),
        ({"model": "m", "prompt": 5}, 'invalid value for "prompt"'),
        ({"model": "m", "prompt": ["a", "b"]}, 'invalid value for "prompt"'),
        ({"model": "m", "prompt": "x", "logprobs": 21}, "logprobs must be between 0 and 20"),
    ],
)
def test_bad_completion_requests(body, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        wire.completion_request(body)


NATIVE_CALL = {
    "id": "call_12345678",
    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
}


def final(**extra):
    return {"done": True, "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 4, **extra}


def test_fold_and_chat_response_with_tool_calls_thinking_and_logprobs() -> None:
    events = [
        {"message": {"role": "assistant", "content": "", "thinking": "Let me see"}, "done": False},
        {
            "message": {"role": "assistant", "content": "Hi"},
            "done": False,
            "logprobs": [
                {
                    "token": "Hi",
                    "logprob": -0.5,
                    "bytes": [72, 105],
                    "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}],
                }
            ],
        },
        {
            "message": {"role": "assistant", "content": "", "tool_calls": [NATIVE_CALL]},
            "done": False,
        },
        final(message={"role": "assistant", "content": ""}),
    ]
    folded = wire.fold_events(events, field="message")
    body = wire.chat_response(folded, id_="chatcmpl-1", model="m", created=5, logprobs=True)
    choice = body["choices"][0]
    assert body["object"] == "chat.completion" and body["system_fingerprint"] == "fp_ollama"
    assert choice["message"]["content"] == "Hi" and choice["message"]["reasoning"] == "Let me see"
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_12345678",
            "index": 0,
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["logprobs"] == {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.5,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}],
            }
        ]
    }
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}


def test_tool_calls_without_an_id_get_one() -> None:
    [call] = wire.tool_calls_to_openai([{"function": {"name": "f", "arguments": {}}}])
    assert re.fullmatch(r"call_[a-z0-9]{8}", call["id"]) and call["function"]["arguments"] == "{}"


@pytest.mark.parametrize(
    ("done_reason", "calls", "expected"),
    [
        ("stop", False, "stop"),
        ("length", False, "length"),
        ("stop", True, "tool_calls"),
        (None, False, "stop"),
    ],
)
def test_finish_reason(done_reason, calls, expected) -> None:
    assert wire.finish_reason(done_reason, tool_calls=calls) == expected


def test_chat_stream_chunk_sequence() -> None:
    stream = wire.ChatStream(model="m", include_usage=True)
    chunks = []
    for event in [
        {"message": {"role": "assistant", "content": "", "thinking": "think"}, "done": False},
        {"message": {"role": "assistant", "content": "Hel", "thinking": "more"}, "done": False},
        {"message": {"role": "assistant", "content": "lo"}, "done": False},
        {
            "message": {"role": "assistant", "content": "", "tool_calls": [NATIVE_CALL]},
            "done": False,
        },
        final(message={"role": "assistant", "content": ""}),
    ]:
        chunks += stream.feed(event)
    deltas = [c["choices"][0]["delta"] if c["choices"] else None for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": "", "reasoning": "think"}
    # A chunk with both thinking and text is split in two.
    assert deltas[1] == {"content": "", "reasoning": "more"} and deltas[2] == {"content": "Hel"}
    assert deltas[3] == {"content": "lo"}
    assert deltas[4]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert deltas[5] == {} and chunks[5]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[6]["choices"] == [] and chunks[6]["usage"]["total_tokens"] == 14
    assert {c["id"] for c in chunks} == {stream.id} and {c["created"] for c in chunks} == {
        stream.created
    }
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_completion_response_and_stream_echo_the_prompt() -> None:
    folded = wire.fold_events(
        [{"response": " blue", "done": False}, final(response="", done_reason="length")], field=None
    )
    body = wire.completion_response(folded, id_="cmpl-1", model="m", echo_prompt="The sky is")
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] == "The sky is blue"
    assert body["choices"][0]["finish_reason"] == "length"
    stream = wire.CompletionStream(model="m", echo_prompt="Sky:", include_usage=True)
    chunks = stream.feed({"response": " blue", "done": False}) + stream.feed(final(response=""))
    assert [c["choices"][0]["text"] for c in chunks[:2]] == ["Sky: blue", ""]
    assert chunks[1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[2]["choices"] == [] and chunks[2]["usage"]["prompt_tokens"] == 10


def test_completion_stream_carries_logprobs_with_running_offsets() -> None:
    stream = wire.CompletionStream(model="m", echo_prompt="Sky:", logprobs=True)
    first = stream.feed(
        {"response": " bl", "done": False, "logprobs": [{"token": " bl", "logprob": -0.5}]}
    )
    second = stream.feed(
        {"response": "ue", "done": False, "logprobs": [{"token": "ue", "logprob": -0.25}]}
    )
    last = stream.feed(final(response=""))
    assert first[0]["choices"][0]["logprobs"]["text_offset"] == [4]
    assert second[0]["choices"][0]["logprobs"] == {
        "tokens": ["ue"],
        "token_logprobs": [-0.25],
        "top_logprobs": [{}],
        "text_offset": [7],
    }
    assert last[0]["choices"][0]["logprobs"] is None
    plain = wire.CompletionStream(model="m")
    chunk = plain.feed({"response": "x", "done": False, "logprobs": [{"token": "x"}]})
    assert chunk[0]["choices"][0]["logprobs"] is None


def test_completion_logprobs_shape() -> None:
    folded = wire.fold_events(
        [
            {
                "response": "ab",
                "done": False,
                "logprobs": [
                    {
                        "token": "ab",
                        "logprob": -1.0,
                        "top_logprobs": [{"token": "ab", "logprob": -1.0}],
                    }
                ],
            },
            final(),
        ],
        field=None,
    )
    body = wire.completion_response(
        folded, id_="cmpl-1", model="m", echo_prompt="xy", logprobs=True
    )
    assert body["choices"][0]["logprobs"] == {
        "tokens": ["ab"],
        "token_logprobs": [-1.0],
        "top_logprobs": [{"ab": -1.0}],
        "text_offset": [2],
    }


def test_ids_look_like_ollamas() -> None:
    assert re.fullmatch(r"chatcmpl-\d{1,3}", wire.new_id("chatcmpl"))
    assert json.dumps(wire.model_object("m:latest", 10.5, namespace="library")) == (
        '{"id": "m:latest", "object": "model", "created": 10, "owned_by": "library"}'
    )

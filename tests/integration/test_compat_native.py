"""The compatible APIs over the native features: tools, JSON schemas, logprobs, thinking, images.

Driven by the official `openai` and `anthropic` packages against real SmolLM2. Tool calls
use native5's approach (tests/integration/test_tools.py): a Hermes-style TEMPLATE on the
SmolLM2 weights, a greedy few-shot conversation and an assistant turn that opens the call,
which the model completes; thinking uses a template that opens `<think>`.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import jsonschema
import openai
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon, create_with_template

pytestmark = pytest.mark.integration

HERMES = "compat-hermes:latest"
THINKER = "compat-thinker:latest"
OPENED = '<tool_call>\n{"name": "get_weather", "arguments": '
CITIES = ("London", "Berlin", "Madrid")
WEATHER_PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "the city"}},
    "required": ["city"],
}
OPENAI_WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a city",
        "parameters": WEATHER_PARAMS,
    },
}
ANTHROPIC_WEATHER: Any = {
    "name": "get_weather",
    "description": "Get the weather in a city",
    "input_schema": WEATHER_PARAMS,
}
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0},
        "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
    },
    "required": ["name", "age", "pets"],
    "additionalProperties": False,
}
# A 1x1 transparent PNG.
PNG_URL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAACAAFUok9dAAAAAElFTkSuQmCC"
)


@pytest.fixture(scope="module")
def hermes(daemon: Daemon) -> str:
    create_with_template(daemon, HERMES, "hermes-tools.gotmpl")
    return HERMES


@pytest.fixture(scope="module")
def thinker(daemon: Daemon) -> str:
    create_with_template(daemon, THINKER, "think.gotmpl")
    return THINKER


@pytest.fixture(scope="module")
def oai(daemon: Daemon) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{daemon.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def claude(daemon: Daemon) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=daemon.url, api_key="unused", max_retries=0)


def _openai_prompt() -> list[Any]:
    messages: list[Any] = []
    for index, city in enumerate(CITIES):
        messages.append({"role": "user", "content": f"What is the weather in {city}?"})
        call = {
            "id": f"call_{index}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
        }
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    messages.append({"role": "user", "content": "What is the weather in Paris?"})
    messages.append({"role": "assistant", "content": OPENED})
    return messages


def _anthropic_prompt() -> list[Any]:
    messages: list[Any] = []
    for index, city in enumerate(CITIES):
        messages.append({"role": "user", "content": f"What is the weather in {city}?"})
        block = {
            "type": "tool_use",
            "id": f"toolu_{index}",
            "name": "get_weather",
            "input": {"city": city},
        }
        messages.append({"role": "assistant", "content": [block]})
    messages.append({"role": "user", "content": "What is the weather in Paris?"})
    messages.append({"role": "assistant", "content": OPENED})
    return messages


# --- OpenAI ------------------------------------------------------------------------------


def test_openai_tool_call_from_real_output(oai: openai.OpenAI, hermes: str) -> None:
    result = oai.chat.completions.create(
        model=hermes,
        messages=_openai_prompt(),
        tools=[OPENAI_WEATHER],
        temperature=0,
        seed=1,
        max_tokens=48,
    )
    [choice] = result.choices
    assert choice.finish_reason == "tool_calls", choice.message.content
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert "<tool_call>" not in (choice.message.content or "")


def test_openai_tool_call_streams_as_deltas(oai: openai.OpenAI, hermes: str) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=hermes,
            messages=_openai_prompt(),
            tools=[OPENAI_WEATHER],
            temperature=0,
            seed=1,
            max_tokens=48,
            stream=True,
        )
    )
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta]
    calls = [call for d in deltas if d for call in d]
    assert len(calls) == 1
    assert calls[0].index == 0 and (calls[0].id or "").startswith("call_")
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_tool_choice_none_drops_the_tools(oai: openai.OpenAI, hermes: str) -> None:
    result = oai.chat.completions.create(
        model=hermes,
        messages=[{"role": "user", "content": "hi"}],
        tools=[OPENAI_WEATHER],
        tool_choice="none",
        temperature=0,
        max_tokens=4,
    )
    assert result.choices[0].message.tool_calls is None
    assert result.choices[0].finish_reason == "length"


def test_openai_tools_on_a_model_without_tools_is_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model=CATALOG_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            tools=[OPENAI_WEATHER],
        )
    assert info.value.status_code == 400
    assert "does not support tools" in info.value.message


def test_openai_json_schema_output_validates(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(
        model=CATALOG_MODEL,
        messages=[{"role": "user", "content": "Give me an example person as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON},
        },
        temperature=0,
        seed=3,
        max_tokens=160,
    )
    assert result.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(result.choices[0].message.content or ""), PERSON)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "strnig"}, 'unknown type "strnig"'),
        ({"type": "array", "minItems": 5, "maxItems": 2}, '"maxItems" 2 is less than'),
    ],
)
def test_openai_invalid_json_schema_is_400(
    oai: openai.OpenAI, schema: dict[str, Any], message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model=CATALOG_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    assert info.value.status_code == 400
    body: Any = info.value.body
    assert body["type"] == "invalid_request_error"
    assert message in body["message"]


def test_openai_chat_logprobs(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(
        model=CATALOG_MODEL,
        messages=[{"role": "user", "content": "Say hello."}],
        temperature=0,
        max_tokens=5,
        logprobs=True,
        top_logprobs=3,
    )
    logprobs = result.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert len(logprobs.content) == 5
    text = "".join(entry.token for entry in logprobs.content)
    assert text == result.choices[0].message.content
    for entry in logprobs.content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        assert all(top.logprob <= 0 for top in entry.top_logprobs)
        # greedy: the chosen token is the most likely one
        assert entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)


def test_openai_chat_logprobs_stream(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=CATALOG_MODEL,
            messages=[{"role": "user", "content": "Say hello."}],
            temperature=0,
            max_tokens=4,
            logprobs=True,
            top_logprobs=2,
            stream=True,
        )
    )
    entries = [
        e
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content or []
    ]
    assert len(entries) == 4
    assert all(e.logprob <= 0 and len(e.top_logprobs) == 2 for e in entries)


def test_openai_top_logprobs_21_is_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model=CATALOG_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            logprobs=True,
            top_logprobs=21,
        )
    assert "top_logprobs" in info.value.message


def test_openai_completion_logprobs(oai: openai.OpenAI) -> None:
    result = oai.completions.create(
        model=CATALOG_MODEL,
        prompt="The capital of France is",
        temperature=0,
        max_tokens=4,
        logprobs=2,
    )
    logprobs = result.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens and len(logprobs.tokens) == 4
    assert "".join(logprobs.tokens) == result.choices[0].text
    assert all(lp <= 0 for lp in logprobs.token_logprobs or [])
    assert logprobs.top_logprobs and all(1 <= len(top) <= 2 for top in logprobs.top_logprobs)
    offsets = logprobs.text_offset or []
    assert offsets[0] == 0 and offsets == sorted(offsets)
    streamed = list(
        oai.completions.create(
            model=CATALOG_MODEL,
            prompt="The capital of France is",
            temperature=0,
            max_tokens=4,
            logprobs=2,
            stream=True,
        )
    )
    tokens = [t for c in streamed if c.choices[0].logprobs for t in c.choices[0].logprobs.tokens]
    assert tokens == logprobs.tokens


def test_openai_reasoning(oai: openai.OpenAI, thinker: str) -> None:
    result = oai.chat.completions.create(
        model=thinker,
        messages=[{"role": "user", "content": "What is 2+2?"}],
        reasoning_effort="high",
        temperature=0,
        seed=5,
        max_tokens=24,
    )
    message = result.choices[0].message
    reasoning = (message.model_extra or {}).get("reasoning")
    assert reasoning, message
    assert "<think>" not in (message.content or "") and "</think>" not in reasoning
    chunks = list(
        oai.chat.completions.create(
            model=thinker,
            messages=[{"role": "user", "content": "What is 2+2?"}],
            reasoning_effort="high",
            temperature=0,
            seed=5,
            max_tokens=24,
            stream=True,
        )
    )
    streamed = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning") or "" for c in chunks if c.choices
    )
    assert streamed == reasoning


def test_openai_reasoning_on_a_model_that_cannot_think_is_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model=CATALOG_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="high",
        )
    assert "does not support thinking" in info.value.message


def test_openai_image_on_a_text_model_is_400_naming_the_model(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model=CATALOG_MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": PNG_URL}},
                    ],
                }
            ],
        )
    assert info.value.status_code == 400
    body: Any = info.value.body
    assert body["message"] == f'"{CATALOG_MODEL}" does not support images'


# --- Anthropic ---------------------------------------------------------------------------


def test_anthropic_tool_use_from_real_output(claude: anthropic.Anthropic, hermes: str) -> None:
    message = claude.messages.create(
        model=hermes,
        max_tokens=48,
        messages=_anthropic_prompt(),
        tools=[ANTHROPIC_WEATHER],
        extra_body={"temperature": 0},
    )
    assert message.stop_reason == "tool_use", message.content
    uses = [b for b in message.content if b.type == "tool_use"]
    assert len(uses) == 1
    assert uses[0].id.startswith(("call_", "toolu_")) and uses[0].name == "get_weather"
    assert uses[0].input == {"city": "Paris"}


def test_anthropic_tool_use_streams_input_json(claude: anthropic.Anthropic, hermes: str) -> None:
    with claude.messages.stream(
        model=hermes,
        max_tokens=48,
        messages=_anthropic_prompt(),
        tools=[ANTHROPIC_WEATHER],
        extra_body={"temperature": 0},
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    starts = [e for e in events if e.type == "content_block_start"]
    assert any(e.content_block.type == "tool_use" for e in starts)
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(partial) == {"city": "Paris"}
    assert final.stop_reason == "tool_use"
    assert [b.input for b in final.content if b.type == "tool_use"] == [{"city": "Paris"}]


def test_anthropic_thinking_blocks(claude: anthropic.Anthropic, thinker: str) -> None:
    message = claude.messages.create(
        model=thinker,
        max_tokens=24,
        messages=[{"role": "user", "content": "What is 2+2?"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"temperature": 0},
    )
    assert message.content and message.content[0].type == "thinking"
    thinking = message.content[0].thinking
    assert thinking and "</think>" not in thinking
    with claude.messages.stream(
        model=thinker,
        max_tokens=24,
        messages=[{"role": "user", "content": "What is 2+2?"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"temperature": 0},
    ) as stream:
        events = list(stream)
    deltas = [
        e.delta.thinking
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "thinking_delta"
    ]
    assert "".join(deltas) == thinking

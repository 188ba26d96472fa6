"""The OpenAI-compatible API, driven by the official `openai` package against real SmolLM2."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from tests.integration.compat_models import create_tools_model
from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

HELLO = [{"role": "user", "content": "Name three colours."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{daemon.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture
def async_client(daemon: Daemon) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{daemon.url}/v1", api_key="unused", max_retries=0)


def _greedy(client: openai.OpenAI, **extra: object) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(
        model=CATALOG_MODEL, messages=HELLO, temperature=0, **extra
    )


def test_chat_completion(client: openai.OpenAI) -> None:
    result = _greedy(client, max_tokens=6)
    assert re.fullmatch(r"chatcmpl-\d{1,3}", result.id)
    assert result.object == "chat.completion" and result.model == CATALOG_MODEL
    assert result.system_fingerprint == "fp_ollama"
    [choice] = result.choices
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 6
    assert result.usage.total_tokens == result.usage.prompt_tokens + 6


def test_max_completion_tokens_bounds_the_answer(client: openai.OpenAI) -> None:
    result = _greedy(client, max_completion_tokens=3)
    assert result.usage is not None and result.usage.completion_tokens == 3
    assert result.choices[0].finish_reason == "length"


def test_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=CATALOG_MODEL,
            messages=HELLO,
            temperature=0,
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:-1] if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == _greedy(client, max_tokens=5).choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1


def test_stream_is_sse_ending_in_done(daemon: Daemon) -> None:
    body = {"model": CATALOG_MODEL, "messages": HELLO, "max_tokens": 3, "stream": True}
    with httpx.stream("POST", f"{daemon.url}/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    blocks = [b for b in raw.split("\n\n") if b]
    assert all(b.startswith("data: ") for b in blocks)
    assert blocks[-1] == "data: [DONE]"
    chunks = [json.loads(b.removeprefix("data: ")) for b in blocks[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    # Every chunk, relayed or not, is the same compact JSON in the same key order.
    for block, chunk in zip(blocks, chunks, strict=False):
        assert block.removeprefix("data: ") == json.dumps(
            chunk, ensure_ascii=False, separators=(",", ":")
        )
        assert list(chunk) == list(chunks[0])


async def test_async_chat_and_stream(async_client: openai.AsyncOpenAI) -> None:
    result = await async_client.chat.completions.create(
        model=CATALOG_MODEL, messages=HELLO, temperature=0, max_tokens=4
    )
    assert result.choices[0].message.content
    stream = await async_client.chat.completions.create(
        model=CATALOG_MODEL, messages=HELLO, temperature=0, max_tokens=4, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == result.choices[0].message.content
    await async_client.close()


def test_seed_makes_sampling_repeatable(client: openai.OpenAI) -> None:
    def sample(seed: int) -> str | None:
        return (
            client.chat.completions.create(
                model=CATALOG_MODEL,
                messages=[{"role": "user", "content": "Write a word."}],
                temperature=1.5,
                top_p=0.95,
                seed=seed,
                max_tokens=12,
                frequency_penalty=0.5,
                presence_penalty=0.5,
            )
            .choices[0]
            .message.content
        )

    first = sample(1234)
    assert sample(1234) == first


def test_stop_string_and_list_end_the_answer(client: openai.OpenAI) -> None:
    full = _greedy(client, max_tokens=12).choices[0].message.content
    assert full
    words = full.split()
    assert len(words) >= 3, full
    stop_word = words[2]
    prefix = full[: full.index(stop_word)]
    for stop in (stop_word, [stop_word, "\u2603never"]):
        result = _greedy(client, max_tokens=12, stop=stop)
        assert result.choices[0].message.content == prefix
        assert result.choices[0].finish_reason == "stop"


def test_json_object_response_format(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model=CATALOG_MODEL,
        messages=[{"role": "user", "content": 'Reply with a JSON object like {"colour": "red"}.'}],
        temperature=0,
        max_tokens=60,
        response_format={"type": "json_object"},
    )
    content = result.choices[0].message.content or ""
    assert content.lstrip().startswith("{")
    if result.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)


@pytest.fixture(scope="module")
def tools_model(daemon: Daemon) -> str:
    return create_tools_model(daemon)


def test_tools_and_tool_messages_reach_the_template(daemon: Daemon, tools_model: str) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
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
    body = {
        "model": tools_model,
        "messages": messages,
        "tools": [WEATHER],
        "tool_choice": "auto",
        "_debug_render_only": True,
    }
    response = httpx.post(f"{daemon.url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    rendered = response.json()["_debug_info"]["rendered_template"]
    assert rendered == (
        "TOOLS: get_weather\nuser: Weather in Paris?\nassistant: CALL get_weather\n"
        "tool: sunny [call_abc]\nassistant:"
    )
    body["tool_choice"] = "none"
    rendered = httpx.post(f"{daemon.url}/v1/chat/completions", json=body, timeout=60).json()
    assert not rendered["_debug_info"]["rendered_template"].startswith("TOOLS")


def test_tools_on_a_model_without_tool_support(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=CATALOG_MODEL, messages=HELLO, tools=[WEATHER])
    assert "does not support tools" in info.value.message
    assert info.value.body["type"] == "invalid_request_error"


def test_completions(client: openai.OpenAI) -> None:
    result = client.completions.create(
        model=CATALOG_MODEL, prompt="The sky is", max_tokens=4, temperature=0, seed=1
    )
    assert re.fullmatch(r"cmpl-\d{1,3}", result.id) and result.object == "text_completion"
    assert result.choices[0].text and result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 4
    echoed = client.completions.create(
        model=CATALOG_MODEL, prompt="The sky is", max_tokens=4, temperature=0, echo=True
    )
    assert echoed.choices[0].text == "The sky is" + result.choices[0].text
    chunks = list(
        client.completions.create(
            model=CATALOG_MODEL,
            prompt="The sky is",
            max_tokens=4,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            stop=["\u2603"],
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == result.choices[0].text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_completion_suffix_needs_an_insert_template(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=CATALOG_MODEL, prompt="def f(", suffix="return 1")
    assert "does not support insert" in info.value.message


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert CATALOG_MODEL in ids
    model = client.models.retrieve(CATALOG_MODEL)
    assert model.id == CATALOG_MODEL and model.object == "model" and model.owned_by == "library"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model:1b")
    assert info.value.body == {
        "message": 'model "no-such-model:1b" not found',
        "type": "not_found_error",
        "param": None,
        "code": None,
    }


def test_unknown_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model:1b", messages=HELLO)
    assert "no-such-model:1b" in info.value.message and "not found" in info.value.message


async def test_async_unknown_model(async_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await async_client.completions.create(model="no-such-model:1b", prompt="x")
    await async_client.close()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": CATALOG_MODEL, "messages": []}, "[] is too short - 'messages'"),
        ({"messages": HELLO}, "model is required"),
        ({"model": CATALOG_MODEL, "messages": HELLO, "temperature": "hot"}, '"temperature"'),
        ({"model": CATALOG_MODEL, "messages": HELLO, "top_logprobs": 21}, "between 0 and 20"),
        ({"model": CATALOG_MODEL, "messages": HELLO, "max_tokens": -1}, "max_tokens"),
        ({"model": CATALOG_MODEL, "messages": HELLO, "n": 1000}, "n must be 1"),
        ({"model": CATALOG_MODEL, "messages": HELLO, "response_format": {"type": "xml"}}, "xml"),
        ({"model": CATALOG_MODEL, "messages": HELLO, "reasoning_effort": "huge"}, "huge"),
        ({"model": CATALOG_MODEL, "messages": "hi"}, '"messages"'),
        (
            {
                "model": CATALOG_MODEL,
                "messages": HELLO,
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "launch_rockets"}},
            },
            '"launch_rockets", which is not in tools',
        ),
        (
            {
                "model": CATALOG_MODEL,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": "https://x/y.png"}],
                    }
                ],
            },
            "image URLs are not currently supported",
        ),
    ],
)
def test_bad_chat_requests_get_openai_errors(daemon: Daemon, body: dict, needle: str) -> None:
    response = httpx.post(f"{daemon.url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and needle in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_bad_body_through_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=CATALOG_MODEL, messages=[])
    assert "too short" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=CATALOG_MODEL, messages=HELLO, logprobs=True, top_logprobs=21
        )
    assert "top_logprobs must be between 0 and 20" in info.value.message


def test_unknown_routes_and_methods_answer_in_the_api_shape(daemon: Daemon) -> None:
    missing = httpx.post(f"{daemon.url}/v1/no-such-endpoint", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    wrong_method = httpx.get(f"{daemon.url}/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert "method not allowed" in wrong_method.json()["error"]["message"]
    anthropic_method = httpx.get(f"{daemon.url}/v1/messages")
    assert anthropic_method.json()["type"] == "error"

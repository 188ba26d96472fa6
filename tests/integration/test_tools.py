"""Tools on native /api/chat: template-rendered tools, parsed calls, tool results fed back.

SmolLM2's own template cannot take tools, so these tests create models on the same weights
with a Hermes/Qwen-style TEMPLATE (`<tool_call>` tags) and a bare-JSON one. The tiny model
is steered by a few-shot conversation (greedy) or, for bare JSON, by a `format` schema;
the calls are parsed from its real output.
"""

from __future__ import annotations

import json

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon, create_with_template

pytestmark = pytest.mark.integration

HERMES = "tools-hermes:latest"
BARE = "tools-bare:latest"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "the city"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the time in a timezone",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}


def _call(name: str, **args: str) -> dict[str, object]:
    return {"function": {"name": name, "arguments": args}}


FEW_SHOT = [
    {"role": "user", "content": "What is the weather in London?"},
    {"role": "assistant", "content": "", "tool_calls": [_call("get_weather", city="London")]},
    {"role": "user", "content": "What is the weather in Berlin?"},
    {"role": "assistant", "content": "", "tool_calls": [_call("get_weather", city="Berlin")]},
    {"role": "user", "content": "What is the weather in Madrid?"},
    {"role": "assistant", "content": "", "tool_calls": [_call("get_weather", city="Madrid")]},
    {"role": "user", "content": "What is the weather in Paris?"},
]
# The tiny model does not start a call by itself; an assistant turn that opens one is
# continued by the model (prefill), and the call it completes is parsed from its output.
OPENED = {"role": "assistant", "content": '<tool_call>\n{"name": "get_weather", "arguments": '}
PROMPT = [*FEW_SHOT, OPENED]
GREEDY = {"temperature": 0, "seed": 1, "num_predict": 48}
CALL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"const": "get_weather"},
        "arguments": {
            "type": "object",
            "properties": {"city": {"enum": ["Paris", "Rome"]}},
            "required": ["city"],
        },
    },
    "required": ["name", "arguments"],
}


@pytest.fixture(scope="module")
def hermes(daemon: Daemon) -> str:
    create_with_template(daemon, HERMES, "hermes-tools.gotmpl")
    return HERMES


@pytest.fixture(scope="module")
def bare(daemon: Daemon) -> str:
    create_with_template(daemon, BARE, "bare-json-tools.gotmpl")
    return BARE


def test_model_without_tools_in_its_template_refuses_tools(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(
            model=CATALOG_MODEL, messages=[{"role": "user", "content": "hi"}], tools=[WEATHER]
        )
    assert info.value.status_code == 400
    assert info.value.error == "registry.ollama.ai/library/smollm2:135m does not support tools"


def test_show_reports_the_tools_capability(daemon: Daemon, hermes: str) -> None:
    shown = ollama.Client(host=daemon.url).show(hermes)
    assert shown.capabilities is not None and "tools" in shown.capabilities


def test_tools_are_rendered_through_the_template(daemon: Daemon, hermes: str) -> None:
    response = httpx.post(
        f"{daemon.url}/api/chat",
        json={
            "model": hermes,
            "messages": FEW_SHOT,
            "tools": [WEATHER],
            "_debug_render_only": True,
        },
        timeout=60,
    )
    prompt = response.json()["_debug_info"]["rendered_template"]
    assert '"name":"get_weather"' in prompt
    assert (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Berlin"}}\n</tool_call>'
        in prompt
    )


def test_hermes_tool_call_is_parsed_from_real_output(daemon: Daemon, hermes: str) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.chat(model=hermes, messages=PROMPT, tools=[WEATHER], options=GREEDY)
    calls = response.message.tool_calls
    assert calls, f"no tool call parsed from {response.message.content!r}"
    assert calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == {"city": "Paris"}
    assert "<tool_call>" not in (response.message.content or "")
    raw = httpx.post(
        f"{daemon.url}/api/chat",
        json={
            "model": hermes,
            "messages": PROMPT,
            "tools": [WEATHER],
            "options": GREEDY,
            "stream": False,
        },
        timeout=120,
    ).json()
    call = raw["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and len(call["id"]) == 13
    assert call["function"]["index"] == 0


def test_tool_calls_stream_before_the_final_chunk(daemon: Daemon, hermes: str) -> None:
    client = ollama.Client(host=daemon.url)
    chunks = list(
        client.chat(model=hermes, messages=PROMPT, tools=[WEATHER], options=GREEDY, stream=True)
    )
    with_calls = [i for i, c in enumerate(chunks) if c.message.tool_calls]
    assert with_calls, "no streamed chunk carried the tool call"
    assert not chunks[with_calls[0]].done
    assert chunks[-1].done


def test_tool_result_is_fed_back_through_the_template(daemon: Daemon, hermes: str) -> None:
    messages = [
        *FEW_SHOT,
        {"role": "assistant", "content": "", "tool_calls": [_call("get_weather", city="Paris")]},
        {
            "role": "tool",
            "content": "Sunny, 24 C",
            "tool_name": "get_weather",
            "tool_call_id": "call_abcdefgh",
        },
    ]
    rendered = httpx.post(
        f"{daemon.url}/api/chat",
        json={
            "model": hermes,
            "messages": messages,
            "tools": [WEATHER],
            "_debug_render_only": True,
        },
        timeout=60,
    ).json()["_debug_info"]["rendered_template"]
    assert "<tool_response>\nSunny, 24 C\n</tool_response>" in rendered
    assert rendered.endswith("<|im_start|>assistant\n")
    answer = ollama.Client(host=daemon.url).chat(
        model=hermes, messages=messages, tools=[WEATHER], options=GREEDY
    )
    assert answer.message.content or answer.message.tool_calls


def test_call_to_an_undeclared_tool_is_not_returned_as_a_call(daemon: Daemon, bare: str) -> None:
    # The schema makes the model call get_weather, but the request declares only get_time.
    client = ollama.Client(host=daemon.url)
    response = client.chat(
        model=bare,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[TIME],
        format=CALL_SCHEMA,
        options=GREEDY,
    )
    assert not response.message.tool_calls
    content = json.loads(response.message.content or "")
    assert content["name"] == "get_weather"


def test_bare_json_call_under_a_schema(daemon: Daemon, bare: str) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.chat(
        model=bare,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        format=CALL_SCHEMA,
        options=GREEDY,
    )
    calls = response.message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert calls[0].function.arguments["city"] in {"Paris", "Rome"}
    assert (response.message.content or "").strip() == ""


def test_bad_tools_field(daemon: Daemon, hermes: str) -> None:
    response = httpx.post(
        f"{daemon.url}/api/chat",
        json={"model": hermes, "messages": FEW_SHOT, "tools": ["get_weather"]},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"] == 'invalid value for "tools[0]": expected an object'

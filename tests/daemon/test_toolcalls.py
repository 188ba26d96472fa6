"""Tool-call tags read from templates, and the streaming tool-call parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.daemon.outputs import OutputParser
from corral.daemon.toolcalls import ToolCallParser, new_call_id, tool_call_tag

DATA = Path(__file__).parent.parent / "integration" / "data"
TEMPLATES = Path(__file__).parents[2] / "corral" / "template" / "data"
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {}}},
]


def _feed(parser: ToolCallParser, pieces: list[str]) -> tuple[list[dict[str, object]], str]:
    calls, content = [], ""
    for piece in pieces:
        got, text = parser.add(piece)
        calls += got
        content += text
    got, text = parser.finish()
    return calls + got, content + text


def _chars(text: str) -> list[str]:
    return list(text)


def test_tag_comes_from_the_template() -> None:
    assert tool_call_tag((DATA / "hermes-tools.gotmpl").read_text()) == "<tool_call>"
    mistral = (
        "{{ if .ToolCalls }}[TOOL_CALLS] [{{ range .ToolCalls }}{{ json . }}{{ end }}]{{ end }}"
    )
    assert tool_call_tag(mistral) == "[TOOL_CALLS]"
    bare = "{{ if .ToolCalls }}{{ range .ToolCalls }}{{ json . }}{{ end }}{{ end }}{{ .Prompt }}"
    assert tool_call_tag(bare) == "{"
    assert tool_call_tag("{{ .Prompt }}") == "{"
    assert tool_call_tag((TEMPLATES / "command-r.gotmpl").read_text()) == "Action: ```json"


def test_tag_for_jinja_templates() -> None:
    assert tool_call_tag(None, "{% if tools %}<tool_call>{% endif %}") == "<tool_call>"
    assert tool_call_tag(None, None) == "{"


def test_hermes_call_streamed_character_by_character() -> None:
    text = 'Sure.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    calls, content = _feed(ToolCallParser("<tool_call>", TOOLS), _chars(text))
    assert content == "Sure."
    assert len(calls) == 1
    call = calls[0]
    assert call["function"] == {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}
    assert str(call["id"]).startswith("call_") and len(str(call["id"])) == 13


def test_each_call_is_returned_as_soon_as_it_is_complete() -> None:
    parser = ToolCallParser("<tool_call>", TOOLS)
    got, _ = parser.add('<tool_call>{"name": "get_time", "arguments": {}}</tool_call>\n<tool_')
    assert [c["function"]["name"] for c in got] == ["get_time"]
    got, _ = parser.add('call>{"name": "get_weather", "arguments": {"city": "Rome"}}')
    assert [c["function"]["index"] for c in got] == [1]


def test_mistral_array_of_calls() -> None:
    text = (
        '[TOOL_CALLS] [{"name": "get_time", "arguments": {"tz": "UTC"}}, '
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}]'
    )
    calls, content = _feed(ToolCallParser("[TOOL_CALLS]", TOOLS), [text])
    assert content == ""
    assert [c["function"]["arguments"] for c in calls] == [{"tz": "UTC"}, {"city": "Oslo"}]


def test_bare_json_only_when_it_opens_the_answer() -> None:
    call = '{"name": "get_time", "parameters": {"tz": "UTC"}}'
    calls, content = _feed(ToolCallParser("{", TOOLS), ["  ", call])
    assert calls and calls[0]["function"]["arguments"] == {"tz": "UTC"}
    assert content == ""
    calls, content = _feed(ToolCallParser("{", TOOLS), ["Here: ", call])
    assert calls == []
    assert content == "Here: " + call


def test_openai_style_function_object() -> None:
    text = '{"type": "function", "function": {"name": "get_time", "arguments": {}}}'
    calls, _ = _feed(ToolCallParser("{", TOOLS), [text])
    assert calls[0]["function"]["name"] == "get_time"


def test_undeclared_tool_stays_content() -> None:
    raw = '{"name": "delete_files", "arguments": {"path": "/"}}'
    calls, content = _feed(ToolCallParser("<tool_call>", TOOLS), [f"<tool_call>{raw}</tool_call>"])
    assert calls == []
    assert raw in content


@pytest.mark.parametrize(
    "text",
    [
        "<tool_call>{not json}</tool_call>",
        '<tool_call>{"name": "get_time", "arguments": [1]}',
        '<tool_call>{"name": "get_time", "arguments": "{broken"}',
        "<tool_call>just words",
        '<tool_call>{"name": "get_time"',
    ],
)
def test_malformed_calls_are_not_calls_and_nothing_is_lost(text: str) -> None:
    calls, content = _feed(ToolCallParser("<tool_call>", TOOLS), _chars(text))
    assert calls == []
    assert content.strip()
    assert content.replace(" ", "") in text.replace("<tool_call>", "").replace(" ", "") or (
        content in text
    )


def test_plain_answer_passes_through() -> None:
    calls, content = _feed(ToolCallParser("<tool_call>", TOOLS), _chars("It is sunny. <tool"))
    assert calls == []
    assert content == "It is sunny. <tool"


def test_ids_are_unique() -> None:
    assert len({new_call_id() for _ in range(200)}) == 200


def test_output_parser_splits_thinking_before_tool_calls() -> None:
    parser = OutputParser(think_tags=("<think>", "</think>"), tool_tag="<tool_call>", tools=TOOLS)
    text = '<think>need the time</think><tool_call>{"name": "get_time", "arguments": {}}'
    thinking, content, calls = "", "", []
    for ch in text:
        delta = parser.feed(ch)
        thinking += delta.thinking
        content += delta.content
        calls += delta.tool_calls
    delta = parser.finish()
    calls += delta.tool_calls
    assert thinking == "need the time"
    assert content == ""
    assert [c["function"]["name"] for c in calls] == ["get_time"]

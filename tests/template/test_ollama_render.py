"""Ollama's prompt rendering: messages vs legacy templates, values, tools, think, FIM."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from corral.errors import TemplateError
from corral.template import ollama
from corral.template.gotmpl import Limits
from corral.template.ollama import (
    DEFAULT_TEMPLATE,
    Message,
    parse_template,
    render_prompt,
    template_variables,
    thinking_tags,
)

HELLO = [
    {"role": "user", "content": "Hello friend!"},
    {"role": "assistant", "content": "Hello human!"},
    {"role": "user", "content": "What is your name?"},
]
WITH_SYSTEM = [{"role": "system", "content": "You are a helpful assistant!"}, *HELLO]

MISTRAL_LEGACY = "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] "
MISTRAL_LEGACY_RESPONSE = MISTRAL_LEGACY + "{{ .Response }}"
MISTRAL_MESSAGES = (
    "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}\n{{- range .Messages }}\n"
    '{{- if eq .Role "user" }}{{ .Content }}[/INST] {{ else if eq .Role "assistant" }}'
    "{{ .Content }}[INST] {{ end }}\n{{- end }}"
)


# -- Ollama's own template tests (template_test.go) --------------------------------------------
@pytest.mark.parametrize("template", [MISTRAL_LEGACY, MISTRAL_LEGACY_RESPONSE, MISTRAL_MESSAGES])
def test_legacy_and_messages_templates_agree(template: str) -> None:
    assert render_prompt(template, HELLO) == (
        "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
    )
    assert render_prompt(template, WITH_SYSTEM) == (
        "[INST] You are a helpful assistant!\n\n"
        "Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
    )


@pytest.mark.parametrize(
    "template",
    [
        "[INST] {{ .Prompt }}[/INST] ",
        "[INST] {{ .Prompt }}[/INST] {{ .Response }}",
        '{{- range $i, $m := .Messages }}{{- if eq .Role "user" }}[INST] {{ .Content }}[/INST] '
        '{{ else if eq .Role "assistant" }}{{ .Content }}{{ end }}{{- end }}',
    ],
)
def test_trailing_assistant_message_is_continued(template: str) -> None:
    messages = [*HELLO, {"role": "assistant", "content": "My name is Ollama and I"}]
    assert render_prompt(template, messages) == (
        "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
        "My name is Ollama and I"
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}"
        "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
        "{{ .Response }}<|im_end|>\n",
        "{{- range $index, $_ := .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
        "{{ end }}<|im_start|>assistant\n",
    ],
)
def test_chatml_legacy_cuts_after_the_response(template: str) -> None:
    assert render_prompt(template, WITH_SYSTEM) == (
        "<|im_start|>system\nYou are a helpful assistant!<|im_end|>\n"
        "<|im_start|>user\nHello friend!<|im_end|>\n"
        "<|im_start|>assistant\nHello human!<|im_end|>\n"
        "<|im_start|>user\nWhat is your name?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


FIM = (
    "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n"
    "{{- else }}{{ .Prompt }}\n{{- end }}"
)


def test_fill_in_the_middle() -> None:
    assert render_prompt(FIM, [], prompt="def add(", suffix="return x") == (
        "<PRE> def add( <SUF>return x <MID>"
    )
    assert render_prompt(FIM, [{"role": "user", "content": "hello"}]) == "hello"
    assert render_prompt(FIM, [], prompt="hello") == "hello"


@pytest.mark.parametrize(
    ("template", "variables"),
    [
        ("{{ .Prompt }}", {"prompt", "response"}),
        ("{{ .System }} {{ .Prompt }} {{ .Response }}", {"prompt", "response", "system"}),
        ("{{ with .Tools }}{{ . }}{{ end }} {{ .System }}", {"response", "system", "tools"}),
        (
            "{{ range .Messages }}{{ .Role }} {{ .Content }}{{ end }}",
            {"content", "messages", "role"},
        ),
        ("{{ json .Messages }}", {"messages"}),
    ],
)
def test_ollama_vars(template: str, variables: set[str]) -> None:
    assert parse_template(template).vars == variables


# -- collation and the values templates see ---------------------------------------------------
SHOW = "{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}|{{ .System }}"


def test_same_role_runs_merge_but_tool_messages_do_not() -> None:
    messages = [
        {"role": "system", "content": "s1"},
        {"role": "system", "content": "s2"},
        {"role": "user", "content": "u1"},
        {"role": "user", "content": "u2"},
        {"role": "tool", "content": "t1"},
        {"role": "tool", "content": "t2"},
    ]
    assert (
        render_prompt(SHOW, messages)
        == "[system:s1\n\ns2][user:u1\n\nu2][tool:t1][tool:t2]|s1\n\ns2"
    )


def test_system_prompt_and_response_arguments() -> None:
    out = render_prompt(
        SHOW, [{"role": "user", "content": "u"}], system="sys", prompt="p", response="r"
    )
    assert out == "[system:sys][user:u\n\np][assistant:r]|sys"


def test_roles_are_lower_cased_and_message_objects_accepted() -> None:
    out = render_prompt(SHOW, [{"role": "USER", "content": "a"}, Message("assistant", "b")])
    assert out == "[user:a][assistant:b]|"


def test_keys_ollama_does_not_set_print_no_value() -> None:
    assert render_prompt("{{ .Messages }}{{ .Prompt }}", []) == "[]<no value>"
    assert render_prompt("{{ if .Prompt }}x{{ end }}{{ .Messages }}", []) == "[]"


def test_unknown_message_fields_render_empty() -> None:
    assert render_prompt("{{ range .Messages }}[{{ .Nope }}]{{ end }}", HELLO[:1]) == "[]"


def test_message_fields() -> None:
    template = (
        "{{ range .Messages }}{{ .Role }}|{{ .Thinking }}|{{ .ToolName }}|{{ .ToolCallID }}|"
        "{{ len .Images }}{{ end }}"
    )
    message = {
        "role": "tool",
        "content": "",
        "thinking": "hmm",
        "tool_name": "get_weather",
        "tool_call_id": "call_1",
        "images": ["aGk="],
    }
    assert render_prompt(template, [message]) == "tool|hmm|get_weather|call_1|1"


def test_legacy_templates_start_a_turn_at_each_system_message() -> None:
    template = "<{{ .System }}|{{ .Prompt }}|{{ .Response }}>"
    messages = [
        {"role": "system", "content": "S1"},
        {"role": "user", "content": "U1"},
        {"role": "system", "content": "S2"},
        {"role": "user", "content": "U2"},
        {"role": "assistant", "content": "A2"},
    ]
    assert render_prompt(template, messages) == "<S1|U1|><S2|U2|A2"


def test_legacy_cut_keeps_text_before_the_response_only() -> None:
    template = "{{ .Prompt }} => {{ .Response }} <end>"
    assert (
        render_prompt(template, HELLO)
        == "Hello friend! => Hello human! <end>What is your name? => "
    )


def test_default_template_renders_the_prompt() -> None:
    assert render_prompt(DEFAULT_TEMPLATE, [], prompt="just this") == "just this"


# -- think --------------------------------------------------------------------------------------
THINK = "{{ .Think }}|{{ .ThinkLevel }}|{{ .IsThinkSet }}{{ .Messages }}"


@pytest.mark.parametrize(
    ("think", "expected"),
    [
        (None, "false||false[]"),
        (True, "true||true[]"),
        (False, "false||true[]"),
        ("high", "true|high|true[]"),
    ],
)
def test_think_values(think: bool | str | None, expected: str) -> None:
    assert render_prompt(THINK, [], think=think) == expected


# -- tools --------------------------------------------------------------------------------------
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "unit": {"type": "string", "enum": ["c", "f"], "description": "Unit"},
                "city": {"type": ["string", "null"], "description": "City <name>"},
            },
        },
    },
}
WEATHER_JSON = (
    '{"type":"function","function":{"name":"get_weather","description":"Get the weather",'
    '"parameters":{"type":"object","required":["city"],"properties":{'
    '"city":{"type":["string","null"],"description":"City \\u003cname\\u003e"},'
    '"unit":{"type":"string","description":"Unit","enum":["c","f"]}}}}}'
)


def test_tools_print_as_json() -> None:
    out = render_prompt("{{ .Tools }}{{ .Messages }}", [], tools=[WEATHER])
    assert out == "[" + WEATHER_JSON + "][]"
    assert render_prompt("{{ json .Tools }}{{ .Messages }}", [], tools=[WEATHER]) == (
        "[" + WEATHER_JSON + "][]"
    )


def test_tool_parts_print_as_json_and_expose_fields() -> None:
    template = (
        "{{ range .Tools }}{{ .Type }} {{ .Function.Name }}: {{ .Function.Description }}\n"
        "{{ .Function }}\n{{ .Function.Parameters.Required }}\n"
        "{{ range $name, $p := .Function.Parameters.Properties }}{{ $name }}={{ $p.Type }}"
        " ({{ toTypeScriptType $p }}) {{ $p.Description }} {{ $p.Enum }};{{ end }}{{ end }}"
        "{{ .Messages }}"
    )
    out = render_prompt(template, [], tools=[WEATHER])
    lines = out.split("\n")
    assert lines[0] == "function get_weather: Get the weather"
    assert lines[1] == WEATHER_JSON[len('{"type":"function","function":') : -1]
    assert lines[2] == "[city]"
    assert lines[3] == (
        "city=[string null] (string | null) City <name> [];unit=string (string) Unit [c f];[]"
    )


def test_no_tools_is_null_and_false() -> None:
    template = "{{ .Tools }}|{{ if .Tools }}yes{{ else }}no{{ end }}{{ .Messages }}"
    assert render_prompt(template, []) == "null|no[]"
    assert render_prompt(template, [], tools=[]) == "[]|no[]"


def test_tool_calls_and_arguments() -> None:
    template = (
        "{{ range .Messages }}{{ range .ToolCalls }}{{ .ID }} {{ .Function.Index }} "
        '{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}} '
        "{{ .Function.Arguments.city }}{{ end }}{{ end }}"
    )
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "c1",
                "function": {
                    "index": 2,
                    "name": "get_weather",
                    "arguments": {"unit": "c", "city": "Paris", "n": 1.0},
                },
            }
        ],
    }
    assert render_prompt(template, [message]) == (
        'c1 2 {"name": "get_weather", "arguments": {"city":"Paris","n":1,"unit":"c"}} Paris'
    )


def test_typescript_type_of_non_properties_is_any() -> None:
    assert render_prompt('{{ toTypeScriptType "x" }}{{ .Messages }}', []) == "any[]"


def test_date_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ollama, "_today", lambda: datetime.date(2024, 3, 1))
    assert render_prompt("{{ currentDate }} {{ yesterdayDate }}{{ .Messages }}", []) == (
        "2024-03-01 2024-02-29[]"
    )


# -- capability detection -----------------------------------------------------------------------
def test_template_variables_are_top_level_fields() -> None:
    template = (
        "{{ if .System }}{{ .System }}{{ end }}{{ range $i, $m := .Messages }}{{ .Content }}"
        "{{ if $.Tools }}{{ .ToolCalls }}{{ end }}{{ end }}{{ with .Think }}{{ .Foo }}{{ end }}"
    )
    assert template_variables(template) == {"System", "Messages", "Tools", "Think"}
    assert template_variables("{{ .Prompt }}{{ if .Suffix }}{{ .Suffix }}{{ end }}") == {
        "Prompt",
        "Suffix",
    }


def test_thinking_tags_are_inferred_from_the_messages_loop() -> None:
    template = (
        "{{ range .Messages }}{{ if .Thinking }}<think>\n{{ .Thinking }}\n</think>{{ end }}"
        "{{ .Content }}{{ end }}"
    )
    assert thinking_tags(template) == ("<think>", "</think>")
    assert thinking_tags("{{ .Thinking }}{{ range .Messages }}{{ .Content }}{{ end }}") == ("", "")


def test_syntax_errors_raise_template_error_with_position() -> None:
    with pytest.raises(TemplateError, match=r'^template: 2:9: unexpected "}" in operand$'):
        render_prompt("ok\n{{ .Foo }", [])
    with pytest.raises(TemplateError, match='function "nope" not defined'):
        template_variables("{{ nope }}")


def test_execution_errors_raise_template_error() -> None:
    with pytest.raises(TemplateError, match="nil pointer evaluating"):
        render_prompt("{{ .Messages }}{{ .Prompt.X }}", [])


# -- the template library -----------------------------------------------------------------------
LIBRARY = Path(__file__).parents[2] / "corral" / "template" / "data"


def _library() -> list[Path]:
    return sorted(LIBRARY.glob("*.gotmpl")) if LIBRARY.is_dir() else []


@pytest.mark.parametrize("path", _library(), ids=lambda p: p.stem)
def test_every_library_template_renders_a_conversation(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tools: list[dict[str, Any]] = [WEATHER]
    out = render_prompt(text, WITH_SYSTEM, tools=tools)
    assert "What is your name?" in out
    assert "Hello human!" in out


def test_json_of_messages_matches_go_struct_encoding() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": "x"}}}],
        },
    ]
    assert render_prompt("{{ json .Messages }}", messages) == (
        '[{"Role":"user","Content":"hi","Thinking":"","Images":null,"ToolCalls":null,'
        '"ToolName":"","ToolCallID":""},{"Role":"assistant","Content":"","Thinking":"",'
        '"Images":null,"ToolCalls":[{"ID":"","Function":{"Index":0,"Name":"f",'
        '"Arguments":{"a":"x","b":1}}}],"ToolName":"","ToolCallID":""}]'
    )


def test_limits_bound_all_legacy_turns_together() -> None:
    turns = []
    for i in range(10):
        turns += [{"role": "user", "content": f"q{i}" * 5}, {"role": "assistant", "content": "a"}]
    assert len(render_prompt("{{ .Prompt }}", turns, limits=Limits(max_output=1000))) == 110
    with pytest.raises(TemplateError, match="output exceeds 50 characters"):
        render_prompt("{{ .Prompt }}", turns, limits=Limits(max_output=50))


def test_hostile_template_is_stopped() -> None:
    with pytest.raises(TemplateError, match="steps"):
        render_prompt(
            "{{ range 1000000000 }}{{ end }}{{ .Messages }}", [], limits=Limits(max_steps=10_000)
        )

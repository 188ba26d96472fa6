"""The sandboxed Jinja chat-template renderer: HF-compatible output, hostile templates stopped."""

from __future__ import annotations

import json
import resource
import threading
from datetime import datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from corral.errors import TemplateError
from corral.template import jinja as jinja_module
from corral.template.jinja import MAX_TEMPLATE_SIZE, render_jinja

USER = {"role": "user", "content": "Hello, how are you?"}
ASSISTANT = {"role": "assistant", "content": "I'm doing great. How can I help you today?"}
USER2 = {"role": "user", "content": "I'd like to show off how chat templating works!"}
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CONVERSATIONS = {
    "user": [USER],
    "user-assistant-user": [USER, ASSISTANT, USER2],
    "system-user-assistant-user": [SYSTEM, USER, ASSISTANT, USER2],
}

SMOL_SYSTEM = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n"
)


# -- real templates render exactly ----------------------------------------------------


def test_smollm2_renders_chatml(smollm2_template: str) -> None:
    prompt = render_jinja(smollm2_template, [USER, ASSISTANT, USER2])
    assert prompt == (
        SMOL_SYSTEM + "<|im_start|>user\nHello, how are you?<|im_end|>\n"
        "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
        "<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_smollm2_keeps_a_given_system_message(smollm2_template: str) -> None:
    prompt = render_jinja(smollm2_template, [SYSTEM, USER], add_generation_prompt=False)
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHello, how are you?<|im_end|>\n"
    )


def test_message_content_is_data_not_template(smollm2_template: str) -> None:
    content = "{{ 7*7 }} {% raw %} {{ ''.__class__ }}"
    prompt = render_jinja(smollm2_template, [{"role": "user", "content": content}])
    assert f"<|im_start|>user\n{content}<|im_end|>\n" in prompt


def test_gemma3_renders_its_turns(gemma3_template: str) -> None:
    prompt = render_jinja(
        gemma3_template, CONVERSATIONS["system-user-assistant-user"], bos_token="<bos>"
    )
    assert prompt == (
        "<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHello, how are you?"
        "<end_of_turn>\n"
        "<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n"
        "<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma3_renders_content_parts(gemma3_template: str) -> None:
    parts = [{"type": "image"}, {"type": "text", "text": "  What is this?  "}]
    prompt = render_jinja(gemma3_template, [{"role": "user", "content": parts}])
    assert prompt == (
        "<start_of_turn>user\n<start_of_image>What is this?<end_of_turn>\n<start_of_turn>model\n"
    )


def test_gemma3_raise_exception_becomes_a_template_error(gemma3_template: str) -> None:
    with pytest.raises(TemplateError, match="Conversation roles must alternate") as info:
        render_jinja(gemma3_template, [USER, USER2])
    assert "chat template raised an error" in str(info.value)


def _hf_environment() -> ImmutableSandboxedEnvironment:
    """jinja2 configured as transformers' chat-template renderer, without our limits."""

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
               sort_keys: bool = False) -> str:  # fmt: skip
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


QWEN3_TEMPLATE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- set content = message.content if message.content is string else '' %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if '</think>' in content %}
            {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n')\
.split('<think>')[-1].lstrip('\\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index and reasoning_content %}
            {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') \
+ '\\n</think>\\n\\n' + content.lstrip('\\n') }}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if tool_call.function %}{%- set tool_call = tool_call.function %}{%- endif %}
                {{- '\\n<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' }}
                {{- tool_call.arguments | tojson }}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' + content + '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather <today> & tomorrow",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
TOOL_CONVERSATION = [
    SYSTEM,
    {"role": "user", "content": "Weather in Zürich?"},
    {
        "role": "assistant",
        "content": "<think>\nlook it up\n</think>\n\n",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}],
    },
    {"role": "tool", "content": '{"temp": 21}'},
]


def _real_templates() -> list[tuple[str, str]]:
    index = json.loads((resources.files("corral.template") / "data" / "index.json").read_text())
    return [(f"{e['name']}-{i}", e["template"]) for i, e in enumerate(index)] + [
        ("qwen3", QWEN3_TEMPLATE)
    ]


@pytest.mark.parametrize(("label", "template"), _real_templates(), ids=lambda v: v[:24])
def test_real_templates_render_as_transformers_does(label: str, template: str) -> None:
    compiled = _hf_environment().from_string(template)
    cases: list[tuple[list[dict[str, Any]], Any]] = [(c, None) for c in CONVERSATIONS.values()]
    cases.append((TOOL_CONVERSATION, TOOLS))
    for messages, tools in cases:
        for add_generation_prompt in (True, False):
            variables = {
                "messages": messages, "tools": tools, "documents": None,
                "add_generation_prompt": add_generation_prompt,
                "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": False,
            }  # fmt: skip
            try:
                expected: str | None = compiled.render(**variables)
            except Exception:
                expected = None
            try:
                got: str | None = render_jinja(
                    template, messages, add_generation_prompt=add_generation_prompt,
                    bos_token="<s>", eos_token="</s>", tools=tools,
                    extra={"enable_thinking": False},
                )  # fmt: skip
            except TemplateError:
                got = None
            assert got == expected, (label, messages, add_generation_prompt)


def test_qwen3_renders_tools_and_tool_calls() -> None:
    prompt = render_jinja(QWEN3_TEMPLATE, TOOL_CONVERSATION, tools=TOOLS)
    assert '"description": "Weather <today> & tomorrow"' in prompt  # tojson does not escape HTML
    assert '{"name": "get_weather", "arguments": {"city": "Zürich"}}' in prompt  # nor ASCII
    assert prompt.endswith("<|im_start|>assistant\n")


# -- the transformers environment ---------------------------------------------------------


def test_blocks_are_trimmed_like_transformers() -> None:
    template = (
        "{% for m in messages %}\n  {% if m.role == 'user' %}\n[{{ m.content }}]\n"
        "  {% endif %}\n{% endfor %}\n"
    )
    assert render_jinja(template, [USER, ASSISTANT]) == "[Hello, how are you?]\n"


def test_tojson_matches_transformers() -> None:
    value = {"b": "<é>", "a": [1, 2]}
    template = "{{ v|tojson }}|{{ v|tojson(indent=2) }}|{{ v|tojson(sort_keys=true) }}"
    assert render_jinja(template, [], extra={"v": value}) == "|".join(
        [
            json.dumps(value, ensure_ascii=False),
            json.dumps(value, ensure_ascii=False, indent=2),
            json.dumps(value, ensure_ascii=False, sort_keys=True),
        ]
    )


def test_strftime_now_and_loop_controls_and_generation_tag() -> None:
    before = datetime.now().strftime("%Y-%m")
    out = render_jinja(
        "{{ strftime_now('%Y-%m') }}|"
        "{% for i in range(9) %}{% if i == 1 %}{% continue %}{% endif %}"
        "{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}|"
        "{% generation %}{% set x = 'kept' %}{{ x }}{% endgeneration %}{{ x is defined }}",
        [],
    )
    month, loop, generation = out.split("|")
    assert month in {before, datetime.now().strftime("%Y-%m")}
    assert loop == "023"
    assert generation == "keptFalse"


def test_template_variables_and_extra() -> None:
    template = (
        "{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}|{{ tools is none }}|"
        "{{ documents is none }}|{{ messages|length }}|{{ enable_thinking }}"
    )
    out = render_jinja(
        template, [USER], bos_token="<s>", eos_token="</s>", extra={"enable_thinking": False}
    )
    assert out == "<s></s>True|True|True|1|False"
    out = render_jinja("{{ tools[0].function.name }}|{{ date_string }}", [], tools=TOOLS,
                       extra={"date_string": "26 Jul 2024"})  # fmt: skip
    assert out == "get_weather|26 Jul 2024"


def test_a_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match=r"syntax error on line 3: .*'}'"):
        render_jinja("ok\n{{ 1 }}\n{{ foo( }}\n", [USER])


def test_a_runtime_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match=r"on line 2: ZeroDivisionError"):
        render_jinja("{{ 1 }}\n{{ 1 / 0 }}", [USER])
    with pytest.raises(TemplateError, match=r"'nothing' is undefined"):
        render_jinja("{{ nothing.at_all }}", [USER])


def test_an_oversized_template_is_refused() -> None:
    with pytest.raises(TemplateError, match="over the limit"):
        render_jinja("x" * (MAX_TEMPLATE_SIZE + 1), [USER])


def test_compiled_templates_are_cached_by_text(smollm2_template: str) -> None:
    render_jinja(smollm2_template, [USER])
    hits = jinja_module._compile.cache_info().hits
    render_jinja(smollm2_template, [USER2])
    assert jinja_module._compile.cache_info().hits == hits + 1


def test_renders_in_a_worker_thread(smollm2_template: str) -> None:
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(render_jinja(smollm2_template, [USER])))
    worker.start()
    worker.join()
    assert results == [render_jinja(smollm2_template, [USER])]


def test_jinja2_has_the_sandbox_escape_fixes() -> None:
    version = tuple(int(part) for part in metadata.version("jinja2").split(".")[:3])
    assert version >= (3, 1, 6)


# -- hostile templates --------------------------------------------------------------------

SSTI_PAYLOADS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ lipsum.__globals__['os'].popen('touch PWNED').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ raise_exception.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ messages.__class__ }}",
    "{{ messages['__class__'] }}",
    "{{ '{0.__class__.__mro__}'.format(messages) }}",
    "{{ '{f.__globals__}'.format_map({'f': lipsum}) }}",
    "{% set x = messages.pop() %}",
    "{{ messages[0].update({'role': 'system'}) }}",
]


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_python_internals_are_out_of_reach(payload: str, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    with pytest.raises(TemplateError, match="unsafe"):
        render_jinja(payload.replace("PWNED", str(canary)), [dict(USER)])
    assert not canary.exists()


DOS_TEMPLATES = {
    "string repetition": ("{{ 'a' * 10**10 }}", "output exceeded 4 MiB"),
    "string repetition, literal count": ("{{ 'ab' * 1000000000 }}", "output exceeded 4 MiB"),
    "huge power": ("{{ 10 ** (10 ** 10) }}", "number over 65536 bits"),
    "repeated squaring": (
        "{% set ns = namespace(x=3) %}{% for i in range(64) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}{{ ns.x }}",
        "number over 65536 bits",
    ),
    "percent width": ("{{ '%0999999999d' % 1 }}", "output exceeded 4 MiB"),
    "format width": ("{{ '{:>9999999999}'.format(1) }}", "output exceeded 4 MiB"),
    "nested format width": ("{{ '{:>{w}}'.format(1, w=999999999) }}", "output exceeded 4 MiB"),
    "format filter": ("{{ '%999999999s'|format('x') }}", "output exceeded 4 MiB"),
    "center filter": ("{{ 'a'|center(1000000000) }}", "output exceeded 4 MiB"),
    "center method": ("{{ 'a'.center(1000000000) }}", "output exceeded 4 MiB"),
    "escaped center": ("{{ ('a'|e).center(1000000000) }}", "output exceeded 4 MiB"),
    "indent filter": ("{{ 'a\nb'|indent(1000000000) }}", "output exceeded 4 MiB"),
    "replace": ("{% set s = 'a' * 4000 %}{{ s.replace('', s) }}", "output exceeded 4 MiB"),
    "join": ("{% set s = 'a' * 4000000 %}{{ [s, s]|join }}", "output exceeded 4 MiB"),
    "join method": ("{% set s = 'a' * 4000000 %}{{ ''.join([s, s]) }}", "output exceeded 4 MiB"),
    "map to a filter": ("{{ ['a']|map('center', 1000000000)|list }}", "output exceeded 4 MiB"),
    "doubling with ~": (
        "{% set s = 'aaaaaaaaaaaaaaaa' %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}",
        "output exceeded 4 MiB",
    ),
    "doubling with +": (
        "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
        "output exceeded 4 MiB",
    ),
    "self-nested list": (
        "{% set l = ['"
        + "a" * 40
        + "'] %}"
        + "{% set l = [l, l, l, l, l, l, l, l] %}" * 12
        + "{{ l }}",
        "output exceeded 4 MiB",
    ),
    "namespace repr": (
        "{% set ns = namespace(s='a' * 4000000) %}{{ [ns, ns] }}",
        "output exceeded 4 MiB",
    ),
    "long output": ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "exceeded 4 MiB"),
    "list repetition": ("{{ ([1] * 1000000000)|length }}", "items"),
    "batch fill": ("{{ [1]|batch(1000000000, 'x')|list }}", "items"),
    "split": ("{{ (' ' * 4000000).split(' ')|length }}", "items"),
    "tojson indent": ("{{ messages|tojson(indent=100000000) }}", "tojson indent"),
    "allocation churn": (
        "{% for i in range(100000) %}{% set x = 'a' * 4000000 %}{% endfor %}",
        "built more than 128 MiB of text",
    ),
    "range": ("{{ range(10**9)|list }}", "MAX_RANGE"),
    "infinite recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursed"),
    "deep expression": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "recursed"),
}


@pytest.mark.parametrize(("template", "message"), DOS_TEMPLATES.values(), ids=DOS_TEMPLATES)
def test_resource_exhaustion_is_stopped(template: str, message: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TemplateError, match=message):
        render_jinja(template, [USER], time_limit=30.0)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 512 * 1024, f"peak memory grew by {grown_kib} KiB"


SLOW_TEMPLATES = {
    "nested ranges": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
    "{% endfor %}",
    "nested lists": "{% set r = range(100000)|list %}{% for i in r %}{% for j in r %}{% endfor %}"
    "{% endfor %}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(40) }}",
    "buffered output": "{% macro f() %}{% for i in range(100000) %}{% for j in range(100000) %}"
    "x{% endfor %}{% endfor %}{% endmacro %}{% set x = f() %}",
    "growing list": "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
    "{% set ns.l = ns.l + [i] %}{% endfor %}",
}


@pytest.mark.parametrize("template", SLOW_TEMPLATES.values(), ids=SLOW_TEMPLATES)
def test_endless_templates_hit_the_time_limit(template: str) -> None:
    with pytest.raises(TemplateError, match=r"^chat template exceeded its time limit of 0\.3s$"):
        render_jinja(template, [USER], time_limit=0.3)


def test_default_limits_are_two_seconds_and_4_mib() -> None:
    with pytest.raises(TemplateError, match=r"^chat template exceeded its time limit of 2\.0s$"):
        render_jinja(SLOW_TEMPLATES["nested ranges"], [USER])
    with pytest.raises(TemplateError, match=r"^chat template output exceeded 4 MiB$"):
        render_jinja("{{ 'a' * 10**10 }}", [USER])


def test_max_output_applies_to_the_prompt(smollm2_template: str) -> None:
    long = {"role": "user", "content": "x" * 2000}
    with pytest.raises(TemplateError, match=r"^chat template output exceeded 1 KiB$"):
        render_jinja(smollm2_template, [long], max_output=1024)
    assert len(render_jinja(smollm2_template, [long], max_output=4096)) > 2000


def test_a_stopped_render_leaves_the_renderer_usable(smollm2_template: str) -> None:
    for template in (SLOW_TEMPLATES["nested ranges"], "{{ 'a' * 10**10 }}", "{{ ''.__class__ }}"):
        with pytest.raises(TemplateError):
            render_jinja(template, [USER], time_limit=0.2)
        assert render_jinja(smollm2_template, [USER]).endswith("<|im_start|>assistant\n")

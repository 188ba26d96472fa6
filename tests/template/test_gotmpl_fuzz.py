"""Hostile and random templates: the engine fails only with TemplateError, never crashes."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from corral.errors import TemplateError
from corral.template.gotmpl import Limits, Template

PIECES = [
    "{{", "}}", "{{- ", " -}}", " ", ".", ".A", ".B", "$", "$x", ":=", "=", "|", "(", ")",
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    '"s"', "`r`", "'c'", "1", "-2", "1.5", "0x1F", "nil", "true", "printf", '"%d %v %5.2f %[2]q"',
    "len", "index", "slice", "eq", "lt", "and", "or", "not", "print", "html", "js", "call", ",",
    "/*", "*/", "\n", "x", "é", "range $i, $v :=", "{{ end }}", "{{ else }}", "{{ range . }}",
]  # fmt: skip
DATA = {"A": [1, "two", None, {"k": [3.5]}], "B": {"x": 1, "y": "z"}, "C": None}
LIMITS = Limits(max_steps=20_000, max_output=100_000)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=30))
def test_random_templates_parse_and_run_or_raise_template_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        template = Template.parse(text)
    except TemplateError as exc:
        assert str(exc).startswith("template: ")
        return
    for data in (DATA, None, [1, 2], "str", 3):
        try:
            out = template.execute(data, limits=LIMITS)
        except TemplateError as exc:
            assert str(exc).startswith("template: ")
        else:
            assert len(out) <= LIMITS.max_output


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        Template.parse("{{ " + text + " }}" + text)
    except TemplateError:
        pass

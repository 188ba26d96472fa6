"""Parsing Go templates: tree shapes, scoping rules and positioned syntax errors."""

from __future__ import annotations

import pytest

from corral.errors import TemplateError
from corral.template.gotmpl import Template
from corral.template.gotmpl.nodes import ActionNode, IfNode, ListNode, RangeNode, TemplateNode
from corral.template.gotmpl.parser import MAX_NESTING


def parse_error(text: str) -> str:
    with pytest.raises(TemplateError) as info:
        Template.parse(text)
    return str(info.value)


def test_tree_round_trips_to_equivalent_source() -> None:
    t = Template.parse("{{ if .A }}x{{ else if .B }}y{{ else }}z{{ end }}{{ $v := .C | len }}")
    assert str(t.root) == ("{{if .A}}x{{else}}{{if .B}}y{{else}}z{{end}}{{end}}{{$v := .C | len}}")


def test_else_if_chains_nest_if_nodes() -> None:
    root = Template.parse("{{ if 1 }}a{{ else if 2 }}b{{ else if 3 }}c{{ end }}").root
    first = root.nodes[0]
    assert isinstance(first, IfNode)
    assert first.else_list is not None
    inner = first.else_list.nodes[0]
    assert isinstance(inner, IfNode) and inner.else_list is not None
    assert isinstance(inner.else_list.nodes[0], IfNode)


def test_define_and_block_become_separate_templates() -> None:
    t = Template.parse('{{ define "a" }}A{{ end }}x{{ block "b" . }}B{{ end }}')
    assert set(t.trees) == {"", "a", "b"}
    assert str(t.trees["a"]) == "A"
    assert isinstance(t.root.nodes[-1], TemplateNode)


def test_whitespace_only_definition_may_be_redefined() -> None:
    t = Template.parse('{{ define "a" }} {{ end }}{{ define "a" }}real{{ end }}')
    assert str(t.trees["a"]) == "real"


def test_range_keeps_declarations_on_the_pipe() -> None:
    node = Template.parse("{{ range $i, $v := .L }}{{ $i }}{{ end }}").root.nodes[0]
    assert isinstance(node, RangeNode)
    assert [v.idents[0] for v in node.pipe.decl] == ["$i", "$v"]


def test_comments_produce_no_nodes() -> None:
    root = Template.parse("a{{/* note */}}b").root
    assert [str(n) for n in root.nodes] == ["a", "b"]


def test_variables_are_visible_until_the_end_of_their_block() -> None:
    Template.parse("{{ $x := 1 }}{{ if 1 }}{{ $x }}{{ $y := 2 }}{{ $y }}{{ end }}{{ $x }}")
    assert "undefined variable" in parse_error("{{ if 1 }}{{ $y := 2 }}{{ end }}{{ $y }}")


def test_defined_templates_do_not_see_outer_variables() -> None:
    assert 'undefined variable "$x"' in parse_error(
        '{{ $x := 1 }}{{ define "t" }}{{ $x }}{{ end }}'
    )


def test_extra_functions_are_accepted_by_name() -> None:
    Template.parse("{{ shout .A }}", {"shout": lambda s: s.upper()})
    assert 'function "shout" not defined' in parse_error("{{ shout .A }}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ .Foo }", 'template: 1:9: unexpected "}" in operand'),
        ("a\nb\n  {{ .Foo }", 'template: 3:11: unexpected "}" in operand'),
        ("{{ if .A }}x", "template: 1:13: unexpected EOF"),
        ("x\n{{ end }}", "template: 2:4: unexpected {{end}}"),
        ("{{ else }}", "template: 1:4: unexpected {{else}}"),
        ("{{ if }}{{ end }}", "template: 1:7: missing value for if"),
        ("{{ nope 1 }}", 'template: 1:4: function "nope" not defined'),
        ("{{ $x }}", 'template: 1:4: undefined variable "$x"'),
        ("{{ break }}", "template: 1:4: {{break}} outside {{range}}"),
        ("{{ continue }}", "template: 1:4: {{continue}} outside {{range}}"),
        ("{{ range . }}{{ else }}{{ break }}{{ end }}", "{{break}} outside {{range}}"),
        ("{{ range . }}{{ break 1 }}{{ end }}", 'unexpected "1" in {{break}}'),
        ("{{ .A | 1 }}", "non executable command in pipeline stage 2"),
        ("{{ $x, $y := 1 }}", "too many declarations in command"),
        ("{{ range $a, $b, $c := . }}{{ end }}", "too many declarations in range"),
        ("{{ range $a, 1 }}{{ end }}", "range can only initialize variables"),
        ("{{ template foo }}", 'unexpected "foo" in template clause'),
        ('{{ "a".b }}', 'unexpected . after term "\\"a\\""'),
        ("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "expected end; found {{else}}"),
        ("{{ with 1 }}{{ else if 2 }}{{ end }}", "unexpected <if> in input"),
        (
            '{{ define "a" }}1{{ end }}{{ define "a" }}2{{ end }}',
            'multiple definition of template "a"',
        ),
        ('{{ define "a" }}1{{ else }}{{ end }}', "unexpected {{else}} in define clause"),
        ('{{ block "b" }}{{ end }}', "missing value for block clause"),
        ('{{ if 1 }}{{ define "x" }}{{ end }}{{ end }}', "unexpected <define> in command"),
        ('{{ "\\q" }}', "invalid syntax"),
        ("{{ 'ab' }}", "malformed character constant: 'ab'"),
        ("{{ 99999999999999999999 }}", 'integer overflow: "99999999999999999999"'),
        ("{{ 1__0 }}", 'illegal number syntax: "1__0"'),
        ("{{ x=1 }}", "bad character U+003D '='"),
        ("{{ .A.B. }}", "unexpected <.> in operand"),
        ("{{ () }}", "missing value for parenthesized pipeline"),
    ],
)
def test_syntax_errors_name_line_column_and_cause(text: str, expected: str) -> None:
    message = parse_error(text)
    assert message.startswith("template: ")
    assert expected in message


def test_error_position_counts_characters_not_bytes() -> None:
    assert parse_error("é {{ .A }") == 'template: 1:9: unexpected "}" in operand'


def test_long_tokens_are_shortened_in_errors() -> None:
    # Go's `%.10q` of the token text, quotes included.
    assert 'unexpected "\\"abcdefghi"... in end' in parse_error(
        '{{ if 1 }}{{ end "abcdefghijklmnop" }}'
    )


def test_nesting_depth_is_bounded() -> None:
    deep = "{{ if 1 }}" * (MAX_NESTING + 1) + "{{ end }}" * (MAX_NESTING + 1)
    assert f"nesting exceeds {MAX_NESTING} levels" in parse_error(deep)
    parens = "{{ " + "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1) + " }}"
    assert "nesting exceeds" in parse_error(parens)
    ok = "{{ if 1 }}" * 50 + "x" + "{{ end }}" * 50
    assert isinstance(Template.parse(ok).root, ListNode)


def test_actions_keep_their_source_position() -> None:
    node = Template.parse("ab\n{{ .X }}").root.nodes[1]
    assert isinstance(node, ActionNode)
    assert node.pos == 6

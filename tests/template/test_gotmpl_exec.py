"""Executing Go templates: data access, control structures, scoping, errors and limits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from corral.errors import TemplateError
from corral.template.gotmpl import Limits, Template


def render(text: str, data: Any = None, **options: Any) -> str:
    return Template.parse(text).execute(data, **options)


def exec_error(text: str, data: Any = None, **options: Any) -> str:
    with pytest.raises(TemplateError) as info:
        render(text, data, **options)
    return str(info.value)


@dataclass
class Person:
    Name: str
    Age: int = 0
    Tags: list[str] = field(default_factory=list)
    _secret: str = "hidden"

    def Shout(self) -> str:
        return self.Name.upper()


# -- data access ------------------------------------------------------------------------------
def test_fields_of_maps_structs_and_plain_objects() -> None:
    data = {"P": Person("Ann", 7), "O": SimpleNamespace(X=1), "M": {"k": "v"}}
    assert render("{{ .P.Name }} {{ .P.Age }} {{ .O.X }} {{ .M.k }}", data) == "Ann 7 1 v"


def test_dollar_is_the_top_level_data_inside_range() -> None:
    data = {"Sep": "-", "L": [1, 2]}
    assert render("{{ range .L }}{{ . }}{{ $.Sep }}{{ end }}", data) == "1-2-"


def test_chained_fields_on_variables_and_parentheses() -> None:
    data = {"P": Person("Ann", Tags=["a"])}
    assert render("{{ $p := .P }}{{ $p.Name }} {{ (index $p.Tags 0) }} {{ (.P).Age }}", data) == (
        "Ann a 0"
    )


def test_missing_map_key_prints_no_value_and_is_false() -> None:
    assert render("[{{ .Nope }}]{{ if .Nope }}yes{{ else }}no{{ end }}", {}) == "[<no value>]no"
    assert render("{{ .Nope.Deeper }}", {}) == "<no value>"


def test_nil_data_evaluates_fields_to_no_value() -> None:
    assert render("{{ .A.B }}") == "<no value>"


def test_missingkey_zero_makes_missing_keys_nil_like_go() -> None:
    assert render("{{ .Nope }}", {}, missing_key="zero") == "<no value>"
    message = exec_error("{{ .Nope.X }}", {}, missing_key="zero")
    assert message.endswith("nil pointer evaluating interface {}.X")


def test_missingkey_error_fails_on_missing_keys() -> None:
    assert exec_error("{{ .Nope }}", {}, missing_key="error").endswith(
        'map has no entry for key "Nope"'
    )


def test_missing_struct_fields_render_empty_by_default() -> None:
    assert render("[{{ .Nope }}]{{ if .Nope }}yes{{ end }}", Person("Ann")) == "[]"
    message = exec_error("{{ .Nope }}", Person("Ann"), missing_field="error")
    assert message == (
        "template: 1:4: executing at <.Nope>: can't evaluate field Nope in type Person"
    )


def test_private_attributes_and_methods_are_not_reachable() -> None:
    assert render("[{{ ._secret }}][{{ .Shout }}]", Person("Ann")) == "[][]"
    assert "can't evaluate field upper in type string" in exec_error("{{ .S.upper }}", {"S": "x"})


def test_field_of_nil_value_is_an_error() -> None:
    assert exec_error("{{ .A.B }}", {"A": None}) == (
        "template: 1:4: executing at <.A.B>: nil pointer evaluating interface {}.B"
    )


def test_field_of_a_scalar_is_an_error() -> None:
    assert exec_error("{{ .A.B }}", {"A": 3}).endswith("can't evaluate field B in type int")


def test_arguments_to_a_field_are_an_error() -> None:
    assert exec_error("{{ .A 1 }}", {"A": 1}).endswith("A is not a method but has arguments")
    assert exec_error("{{ .Name 1 }}", Person("x")).endswith(
        "Name has arguments but cannot be invoked as function"
    )


# -- values and printing ----------------------------------------------------------------------
def test_literals_print_like_go() -> None:
    assert render("{{ 1 }} {{ -2 }} {{ 1.5 }} {{ 1.0 }} {{ 1e6 }} {{ 0x1F }} {{ 'a' }}") == (
        "1 -2 1.5 1 1e+06 31 97"
    )
    assert render('{{ true }} {{ "s\\tq" }} {{ `raw\\n` }} {{ 2i }} {{ 0o17 }} {{ 1_000 }}') == (
        "true s\tq raw\\n (0+2i) 15 1000"
    )


def test_composite_values_print_like_go() -> None:
    data = {"M": {"b": [1, 2], "a": None}, "L": ["x", 1.5, True, None], "P": Person("A", 3)}
    assert render("{{ .M }} {{ .L }} {{ .P }}", data) == (
        "map[a:<nil> b:[1 2]] [x 1.5 true <nil>] {A 3 []}"
    )


def test_nil_and_no_value_print_no_value() -> None:
    assert render("{{ .A }}|{{ index .M `x` }}", {"A": None, "M": {}}) == "<no value>|<no value>"


def test_functions_cannot_be_printed() -> None:
    assert "can't print {{.F}} of type func" in exec_error("{{ .F }}", {"F": len})


# -- truthiness -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "truth"),
    [
        (None, False),
        (False, False),
        (True, True),
        (0, False),
        (-1, True),
        (0.0, False),
        (0.1, True),
        ("", False),
        (" ", True),
        ([], False),
        ([0], True),
        ({}, False),
        ({"a": 0}, True),
        (Person(""), True),
    ],
)
def test_go_truth_rules(value: Any, truth: bool) -> None:
    expected = "T" if truth else "F"
    assert render("{{ if .V }}T{{ else }}F{{ end }}", {"V": value}) == expected


# -- control structures -----------------------------------------------------------------------
def test_if_else_if_else() -> None:
    t = Template.parse("{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}")
    assert [t.execute({"A": a, "B": b}) for a, b in [(1, 0), (0, 1), (0, 0)]] == ["a", "b", "c"]


def test_with_sets_dot_and_else_with_chains() -> None:
    t = Template.parse("{{ with .A }}a={{ . }}{{ else with .B }}b={{ . }}{{ else }}none{{ end }}")
    assert t.execute({"A": 1, "B": 2}) == "a=1"
    assert t.execute({"A": 0, "B": 2}) == "b=2"
    assert t.execute({"A": 0, "B": 0}) == "none"


def test_range_over_list_with_index_and_element() -> None:
    assert render("{{ range $i, $v := .L }}{{ $i }}={{ $v }};{{ end }}", {"L": ["a", "b"]}) == (
        "0=a;1=b;"
    )
    assert render("{{ range $v := .L }}{{ $v }}{{ end }}", {"L": ("x", "y")}) == "xy"


def test_range_over_map_visits_keys_in_sorted_order() -> None:
    data = {"M": {"b": 2, "a": 1, "c": 3}, "N": {10: "x", 9: "y"}}
    assert render("{{ range $k, $v := .M }}{{ $k }}{{ $v }}{{ end }}", data) == "a1b2c3"
    assert render("{{ range $k, $v := .N }}{{ $k }}{{ $v }}{{ end }}", data) == "9y10x"


def test_range_over_an_integer_counts_from_zero() -> None:
    assert render("{{ range 3 }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}") == "012|01"
    assert render("{{ range 0 }}x{{ else }}none{{ end }}") == "none"
    assert "more than one variable" in exec_error("{{ range $i, $v := 3 }}{{ end }}")


def test_range_else_runs_for_empty_or_missing_collections() -> None:
    t = Template.parse("{{ range .L }}x{{ else }}empty{{ end }}")
    assert [t.execute({"L": v}) for v in ([], {}, None)] == ["empty"] * 3
    assert t.execute({}) == "empty"


def test_range_break_and_continue() -> None:
    data = {"L": ["a", "b", "c"]}
    assert (
        render('{{ range .L }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', data) == "a"
    )
    body = '{{ range .L }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}'
    assert render(body, data) == "ac"


def test_break_leaves_only_the_innermost_range() -> None:
    text = (
        "{{ range 2 }}[{{ range 5 }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}]{{ end }}"
    )
    assert render(text) == "[01][01]"


def test_range_with_assignment_updates_outer_variables() -> None:
    text = "{{ $i := 0 }}{{ $v := 0 }}{{ range $i, $v = .L }}{{ end }}{{ $i }}{{ $v }}"
    assert render(text, {"L": ["x", "y"]}) == "1y"


def test_range_over_a_string_is_an_error() -> None:
    assert "range can't iterate over abc" in exec_error("{{ range . }}{{ end }}", "abc")


def test_variables_assign_and_scope() -> None:
    text = "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}"
    assert render(text) == "32"


def test_declaration_in_if_and_with_pipelines() -> None:
    assert render("{{ if $x := .A }}{{ $x }}{{ end }}", {"A": 7}) == "7"
    assert render("{{ with $x := .A }}{{ $x }}{{ . }}{{ end }}", {"A": 7}) == "77"


def test_pipelines_pass_the_value_as_last_argument() -> None:
    assert render('{{ "a" | printf "%s-%s" "b" }}') == "b-a"
    assert render('{{ .L | len | printf "%03d" }}', {"L": [1, 2]}) == "002"


def test_define_template_and_block() -> None:
    text = (
        '{{ define "T" }}[{{ . }}]{{ end }}{{ template "T" "x" }}'
        '{{ block "B" 3 }}<{{ . }}>{{ end }}'
    )
    assert render(text) == "[x]<3>"
    assert render('{{ define "T" }}{{ . }}{{ end }}{{ template "T" }}', 1) == "<no value>"


def test_template_calls_do_not_inherit_variables_but_see_their_dot() -> None:
    text = '{{ define "T" }}{{ $ }}{{ .A }}{{ end }}{{ $x := 5 }}{{ template "T" . }}'
    assert render(text, {"A": "a"}) == "map[A:a]a"


def test_execute_a_named_template() -> None:
    t = Template.parse('{{ define "greet" }}hi {{ . }}{{ end }}main')
    assert t.execute("bob", name="greet") == "hi bob"
    assert t.execute() == "main"


def test_trim_markers_shape_the_output() -> None:
    text = "a  {{- 1 -}}  b {{/* c */}} {{- /* c2 */ -}} \n c"
    assert render(text) == "a1b c"


# -- errors -----------------------------------------------------------------------------------
def test_execution_errors_name_position_and_node() -> None:
    assert (
        exec_error("\n\n   {{ nil }}") == "template: 3:7: executing at <nil>: nil is not a command"
    )
    assert exec_error("{{ . 1 }}", 1) == (
        "template: 1:4: executing at <.>: can't give argument to non-function ."
    )
    assert exec_error('{{ template "x" }}') == (
        'template: 1:13: executing at <{{template "x"}}>: template "x" not defined'
    )


def test_errors_inside_defined_templates_name_them() -> None:
    message = exec_error('{{ define "inner" }}{{ nil }}{{ end }}{{ template "inner" }}')
    assert message.startswith('template: 1:24: executing "inner" at <nil>')


def test_assigning_an_undeclared_variable_fails_at_execution() -> None:
    assert exec_error("{{ $x = 1 }}").endswith("undefined variable: $x")
    assert render("{{ $x := 1 }}") == ""


# -- limits -----------------------------------------------------------------------------------
def test_recursive_templates_stop_at_the_depth_limit() -> None:
    text = '{{ define "r" }}x{{ template "r" . }}{{ end }}{{ template "r" }}'
    message = exec_error(text, limits=Limits(max_depth=10))
    assert "exceeded maximum template depth (10)" in message
    assert "exceeded maximum template depth (100)" in exec_error(text)


def test_step_budget_stops_runaway_loops() -> None:
    message = exec_error("{{ range 1000000000 }}{{ end }}", limits=Limits(max_steps=1000))
    assert "exceeded 1000 steps" in message


def test_output_cap_stops_huge_output() -> None:
    message = exec_error("{{ range 100 }}0123456789{{ end }}", limits=Limits(max_output=500))
    assert "output exceeds 500 characters" in message
    assert render("{{ range 50 }}0123456789{{ end }}", limits=Limits(max_output=500)) == (
        "0123456789" * 50
    )


def test_string_doubling_is_caught_by_the_value_cap() -> None:
    text = '{{ $x := "ab" }}{{ range 64 }}{{ $x = printf "%s%s" $x $x }}{{ end }}'
    assert "exceeds 10000 characters" in exec_error(text, limits=Limits(max_output=10_000))


def test_time_budget_stops_slow_templates() -> None:
    message = exec_error("{{ range 1000000000 }}{{ end }}", limits=Limits(timeout=0.0))
    assert "exceeded 0.0 seconds" in message


def test_printf_padding_is_bounded() -> None:
    assert render('{{ printf "%99999999d" 1 }}') == "%!(NOVERB)%!(EXTRA int=1)"
    assert "formatted output exceeds" in exec_error("{{ printf `" + "%1000000d" * 80 + "` }}")


def test_one_template_executes_concurrently() -> None:
    t = Template.parse("{{ range .L }}{{ $.P }}{{ . }}{{ end }}")
    results: list[str] = []

    def work(p: str) -> None:
        for _ in range(50):
            results.append(t.execute({"P": p, "L": [1, 2, 3]}))

    threads = [threading.Thread(target=work, args=(p,)) for p in "abcd"]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(set(results)) == ["a1a2a3", "b1b2b3", "c1c2c3", "d1d2d3"]

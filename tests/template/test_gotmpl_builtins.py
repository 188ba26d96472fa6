"""Go's builtin template functions: and, or, not, comparisons, len, index, slice, escapers, call."""

from __future__ import annotations

from typing import Any

import pytest

from corral.errors import TemplateError
from corral.template.gotmpl import Func, FuncError, Template


def render(text: str, data: Any = None, funcs: dict[str, Any] | None = None) -> str:
    return Template.parse(text, funcs).execute(data)


def exec_error(text: str, data: Any = None) -> str:
    with pytest.raises(TemplateError) as info:
        render(text, data)
    return str(info.value)


# -- and / or / not ---------------------------------------------------------------------------
def test_and_returns_the_first_false_argument_or_the_last() -> None:
    assert render('{{ and 1 0 "x" }}|{{ and 1 "x" }}|{{ and "" 1 }}') == "0|x|"


def test_or_returns_the_first_true_argument_or_the_last() -> None:
    assert render('{{ or 0 "" "z" 1 }}|{{ or 0 "" }}|{{ or .Missing }}', {}) == "z||<no value>"


def test_and_or_short_circuit() -> None:
    # index would fail on the missing element: it must never be evaluated.
    data = {"L": []}
    assert render("{{ and .L (index .L 5) }}", data) == "[]"
    assert render("{{ or 1 (index .L 5) }}", data) == "1"


def test_and_or_take_the_pipeline_value_last() -> None:
    assert render('{{ "x" | and 1 }}|{{ 0 | or "" }}') == "x|0"


def test_not() -> None:
    assert render("{{ not 0 }} {{ not 1 }} {{ not .Missing }} {{ not .L }}", {"L": [1]}) == (
        "true false true false"
    )


# -- comparisons ------------------------------------------------------------------------------
def test_eq_compares_basic_values_and_accepts_several_candidates() -> None:
    assert render('{{ eq 1 1 }} {{ eq "a" "b" }} {{ eq "b" "a" "b" }} {{ eq true false }}') == (
        "true false true false"
    )


def test_eq_with_missing_values() -> None:
    data: dict[str, Any] = {}
    assert render('{{ eq .Missing "x" }} {{ eq .Missing nil }} {{ eq nil nil }}', data) == (
        "false true true"
    )


def test_eq_rejects_mixed_and_non_comparable_types() -> None:
    assert exec_error("{{ eq 1 1.0 }}").endswith(
        "error calling eq: incompatible types for comparison: int and float64"
    )
    assert "non-comparable type" in exec_error("{{ eq .L .L }}", {"L": [1]})
    assert "missing argument for comparison" in exec_error("{{ eq 1 }}")


def test_ordering_comparisons() -> None:
    out = render(
        '{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }} {{ ne 1 2 }} {{ lt 1.5 2.5 }}'
    )
    assert out == "true true true false true true"


def test_ordering_rejects_bad_types() -> None:
    assert "incompatible types for comparison: string and int" in exec_error('{{ lt "a" 1 }}')
    assert "invalid type for comparison" in exec_error("{{ lt true false }}")
    assert "invalid type for comparison" in exec_error("{{ lt .Missing 1 }}", {})


def test_comparison_arity() -> None:
    assert "wrong number of args for ne: want 2 got 1" in exec_error("{{ ne 1 }}")
    assert "wrong number of args for lt: want 2 got 3" in exec_error("{{ lt 1 2 3 }}")


# -- len / index / slice ------------------------------------------------------------------------
def test_len_counts_utf8_bytes_of_strings_and_items_of_collections() -> None:
    data = {"L": [1, 2, 3], "M": {"a": 1}}
    assert render('{{ len "héllo" }} {{ len .L }} {{ len .M }} {{ len "" }}', data) == "6 3 1 0"


def test_len_of_unsized_values_fails() -> None:
    assert exec_error("{{ len 3 }}").endswith("error calling len: len of type int")
    assert "len of nil pointer" in exec_error("{{ len .Missing }}", {})


def test_index_into_lists_maps_and_strings() -> None:
    data = {"L": [[1, 2], [3, 4]], "M": {"a": {"b": "deep"}}}
    assert render("{{ index .L 1 0 }} {{ index .M `a` `b` }} {{ index `abc` 1 }}", data) == (
        "3 deep 98"
    )
    assert render("{{ index .M `zzz` }}", data) == "<no value>"
    assert render("{{ index .L }}", data) == "[[1 2] [3 4]]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ index .L 5 }}", "index out of range: 5"),
        ("{{ index .L -1 }}", "index out of range: -1"),
        ('{{ index .L "x" }}', "cannot index slice/array with type string"),
        ("{{ index .Missing 0 }}", "index of untyped nil"),
        ("{{ index 3 0 }}", "can't index item of type int"),
        ("{{ index .M 1 }}", "value has type int; should be string"),
    ],
)
def test_index_errors(text: str, message: str) -> None:
    assert message in exec_error(text, {"L": [1, 2], "M": {"a": 1}})


def test_slice_lists_and_strings() -> None:
    data = {"L": [1, 2, 3, 4]}
    assert render(
        "{{ slice .L 1 3 }} {{ slice .L 2 }} {{ slice .L }} {{ slice .L 1 2 3 }}", data
    ) == ("[2 3] [3 4] [1 2 3 4] [2]")
    assert render('{{ slice "hello" 1 3 }} {{ slice "hello" 3 }}') == "el lo"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ slice .L 3 1 }}", "invalid slice index: 3 > 1"),
        ("{{ slice .L 1 9 }}", "index out of range: 9"),
        ("{{ slice .L 0 1 2 3 }}", "too many slice indexes: 4"),
        ('{{ slice "abc" 0 1 2 }}', "cannot 3-index slice a string"),
        ("{{ slice 3 0 }}", "can't slice item of type int"),
        ("{{ slice .Missing 0 }}", "slice of untyped nil"),
    ],
)
def test_slice_errors(text: str, message: str) -> None:
    assert message in exec_error(text, {"L": [1, 2, 3]})


# -- escapers -----------------------------------------------------------------------------------
def test_html_escapes_like_go() -> None:
    assert render("{{ html `<a href='x'>\"&\"</a>` }}") == (
        "&lt;a href=&#39;x&#39;&gt;&#34;&amp;&#34;&lt;/a&gt;"
    )


def test_js_escapes_like_go() -> None:
    assert render('{{ js `it\'s "<b>"=&\\` }}') == 'it\\\'s \\"\\u003Cb\\u003E\\"\\u003D\\u0026\\\\'
    assert render('{{ js "\\x01é" }}') == "\\u0001é"


def test_urlquery_escapes_like_go() -> None:
    assert render('{{ urlquery "a b&c/é~" }}') == "a+b%26c%2F%C3%A9~"


def test_escapers_print_non_string_arguments_first() -> None:
    assert render("{{ html 1 2 }} {{ urlquery .L }}", {"L": ["a b"]}) == "1 2 %5Ba+b%5D"


# -- print family and call --------------------------------------------------------------------
def test_print_and_println_spacing() -> None:
    assert render('{{ print 1 2 "a" "b" 3 }}|{{ println 1 "a" }}') == "1 2ab3|1 a\n"
    assert render("{{ print .Missing nil }}", {}) == "<nil> <nil>"


def test_call_invokes_function_values() -> None:
    data = {"F": lambda a, b: a + b, "G": Func(lambda: "g", 0, 0)}
    assert render("{{ call .F 1 2 }} {{ call .G }}", data) == "3 g"
    assert "non-function of type int" in exec_error("{{ call .N }}", {"N": 1})
    assert "call of nil" in exec_error("{{ call .Missing }}", {})
    assert "wrong number of args" in exec_error("{{ call .F 1 }}", {"F": lambda a, b: a})


# -- custom functions ---------------------------------------------------------------------------
def test_custom_functions_and_their_errors() -> None:
    def fail(x: Any) -> str:
        raise FuncError(f"bad {x}")

    funcs = {"up": str.upper, "fail": fail, "pair": Func(lambda *a: len(a), 2, 2)}
    assert render('{{ up "a" }} {{ "b" | up }}', funcs=funcs) == "A B"
    with pytest.raises(TemplateError, match="error calling fail: bad 1"):
        render("{{ fail 1 }}", funcs=funcs)
    with pytest.raises(TemplateError, match="wrong number of args for pair: want 2 got 1"):
        render("{{ pair 1 }}", funcs=funcs)


def test_custom_functions_override_builtins() -> None:
    assert render("{{ len 5 }}", funcs={"len": lambda x: "custom"}) == "custom"


def test_custom_functions_receive_nil_for_missing_values() -> None:
    seen: list[Any] = []
    render("{{ grab .Missing }}", {}, funcs={"grab": lambda v: seen.append(v) or ""})
    assert seen == [None]

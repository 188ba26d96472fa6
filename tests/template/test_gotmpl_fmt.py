"""Go's fmt as templates use it: printf verbs and flags, value printing, and JSON encoding."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest

from corral.template.gotmpl import Template, go_json_dumps, go_quote, sprint_value, sprintf
from corral.template.gotmpl.gojson import JSONError


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%s|%v|%q", ("a", "b", 'c"d'), 'a|b|"c\\"d"'),
        ("%d|%5d|%-5d|%05d|%+d|% d", (1, 2, 3, 4, 5, 6), "1|    2|3    |00004|+5| 6"),
        (
            "%.3d|%.0d|%x|%X|%#x|%o|%#o|%O|%b|%c|%U|%#U",
            (7, 0, 255, 255, 255, 8, 8, 8, 5, 65, 65, 65),
            "007||ff|FF|0xff|10|010|0o10|101|A|U+0041|U+0041 'A'",
        ),
        ("%t|%v|%5t", (True, False, True), "true|false| true"),
        (
            "%f|%.2f|%8.3f|%-8.1f|%08.3f|%+.1f",
            (3.14159,) * 6,
            "3.141590|3.14|   3.142|3.1     |0003.142|+3.1",
        ),
        (
            "%e|%E|%.2e|%g|%G|%.3g|%v",
            (1234.5678,) * 7,
            "1.234568e+03|1.234568E+03|1.23e+03|1234.5678|1234.5678|1.23e+03|1234.5678",
        ),
        ("%v|%v|%v|%v|%v", (1e6, 123456.0, 1e-5, 1e-4, 1e21), "1e+06|123456|1e-05|0.0001|1e+21"),
        ("%v|%v|%v|%f", (math.inf, -math.inf, math.nan, math.inf), "+Inf|-Inf|NaN|+Inf"),
        ("%x|% x|%X|%#x|%.1x", ("hi", "hi", "hi", "hi", "hi"), "6869|68 69|6869|0x6869|68"),
        (
            "%.2s|%5s|%-5s|%05s|%5.1s",
            ("abc", "ab", "ab", "ab", "xyz"),
            "ab|   ab|ab   |000ab|    x",
        ),
        ("%q|%+q|%#q|%#q", ("é\n", "é", "raw", "a`b"), '"é\\n"|"\\u00e9"|`raw`|"a`b"'),
        ("%q|%+q", (0x263A, 0x263A), "'☺'|'\\u263a'"),
        (
            "%T|%T|%T|%T|%T|%T",
            (1, "s", 1.5, [1], {"a": 1}, None),
            "int|string|float64|[]interface {}|map[string]interface {}|<nil>",
        ),
        ("%v|%d|%s", ([1, "a", None], [1, 2], ["x", "y"]), "[1 a <nil>]|[1 2]|[x y]"),
        ("%v|%+v", ({"b": 1, "a": [1]}, {"k": "v"}), "map[a:[1] b:1]|map[k:v]"),
        ("%*d|%-*d|%.*f", (5, 1, 3, 2, 2, 3.14159), "    1|2  |3.14"),
        ("%[2]d %[1]d|%[1]d %d", (1, 2), "2 1|1 2"),
        ("%%|%c|%v", (0x1F600, b"ab"), "%|😀|[97 98]"),
    ],
)
def test_printf_verbs_and_flags(fmt: str, args: tuple[Any, ...], expected: str) -> None:
    assert sprintf(fmt, *args) == expected


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%d", ("s",), "%!d(string=s)"),
        ("%s", (1,), "%!s(int=1)"),
        ("%d", (1.5,), "%!d(float64=1.5)"),
        ("%t", (1,), "%!t(int=1)"),
        ("%s", (None,), "%!s(<nil>)"),
        ("%v", (None,), "<nil>"),
        ("%s %s", ("a",), "a %!s(MISSING)"),
        ("%s", ("a", 1, None), "a%!(EXTRA int=1, <nil>)"),
        ("%z", (1,), "%!z(int=1)"),
        ("abc%", (), "abc%!(NOVERB)"),
        ("%[3]d", (1,), "%!d(BADINDEX)"),
        ("%*d", ("x", 1), "%!(BADWIDTH)1"),
        ("%d", ([1, "a"],), "[1 %!d(string=a)]"),
    ],
)
def test_printf_error_forms(fmt: str, args: tuple[Any, ...], expected: str) -> None:
    assert sprintf(fmt, *args) == expected


def test_printf_from_a_template() -> None:
    t = Template.parse('{{ printf "%s\\n\\n%s" .A .B }}|{{ printf "%v" .Missing }}')
    assert t.execute({"A": "x", "B": "y"}) == "x\n\ny|<nil>"


@dataclass
class Point:
    X: int
    Y: float


class Stringy:
    def go_str(self) -> str:
        return "custom!"


def test_value_printing_matches_go() -> None:
    assert sprint_value(Point(1, 2.5)) == "{1 2.5}"
    assert sprintf("%+v|%#v", Point(1, 2.0), Point(1, 2.0)) == "{X:1 Y:2}|Point{X:1, Y:2}"
    assert sprint_value([Stringy(), "x"]) == "[custom! x]"
    assert sprintf("%s|%q|%d", Stringy(), Stringy(), True) == 'custom!|"custom!"|%!d(bool=true)'
    assert sprint_value(1 + 2j) == "(1+2i)"
    assert sprint_value(-0.0) == "-0"


def test_go_quote_escapes() -> None:
    assert go_quote('a"\\\t\x01\x7f\u2028😀') == '"a\\"\\\\\\t\\x01\\x7f\\u2028😀"'
    assert go_quote("é", ascii_only=True) == '"\\u00e9"'


# -- JSON -------------------------------------------------------------------------------------
def test_json_matches_go_encoding() -> None:
    value = {"b": [1, 2.5, 1.0, None, True], "a": '<&>\u2028"\n\b', "c": {"z": 1, "y": 1e21}}
    assert go_json_dumps(value) == (
        '{"a":"\\u003c\\u0026\\u003e\\u2028\\"\\n\\b","b":[1,2.5,1,null,true],'
        '"c":{"y":1e+21,"z":1}}'
    )


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (1e-7, "1e-7"),
        (1e20, "100000000000000000000"),
        (123.456, "123.456"),
        (-2.5e-10, "-2.5e-10"),
        (12, "12"),
    ],
)
def test_json_numbers(number: float, text: str) -> None:
    assert go_json_dumps(number) == text


def test_json_structs_bytes_and_marshalers() -> None:
    class Raw:
        def go_json(self) -> str:
            return '{"raw":true}'

    assert go_json_dumps([Point(1, 2.0), b"hi", Raw()]) == '[{"X":1,"Y":2},"aGk=",{"raw":true}]'


def test_json_rejects_unencodable_values() -> None:
    with pytest.raises(JSONError):
        go_json_dumps(math.nan)
    with pytest.raises(JSONError):
        go_json_dumps(len)

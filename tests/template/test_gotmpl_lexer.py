"""Lexing Go templates: token kinds, trim markers, comments and lexical errors."""

from __future__ import annotations

import pytest

from corral.template.gotmpl.lexer import Kind, lex


def kinds(text: str) -> list[tuple[Kind, str]]:
    return [(t.kind, t.val) for t in lex(text) if t.kind is not Kind.SPACE]


def test_text_and_action_tokens() -> None:
    assert kinds('hi {{ .A.B | printf "%s" $x }}!') == [
        (Kind.TEXT, "hi "),
        (Kind.LEFT_DELIM, "{{"),
        (Kind.FIELD, ".A"),
        (Kind.FIELD, ".B"),
        (Kind.PIPE, "|"),
        (Kind.IDENTIFIER, "printf"),
        (Kind.STRING, '"%s"'),
        (Kind.VARIABLE, "$x"),
        (Kind.RIGHT_DELIM, "}}"),
        (Kind.TEXT, "!"),
        (Kind.EOF, ""),
    ]


def test_keywords_literals_and_declarations() -> None:
    toks = kinds(
        "{{ range $i, $v := . }}{{ if true }}{{ nil }}{{ 'a' }}{{ 1+2i }}{{ `r` }}{{ $ = 1 }}"
    )
    assert (Kind.RANGE, "range") in toks
    assert (Kind.DECLARE, ":=") in toks
    assert (Kind.CHAR, ",") in toks
    assert (Kind.DOT, ".") in toks
    assert (Kind.IF, "if") in toks
    assert (Kind.BOOL, "true") in toks
    assert (Kind.NIL, "nil") in toks
    assert (Kind.CHAR_CONSTANT, "'a'") in toks
    assert (Kind.COMPLEX, "1+2i") in toks
    assert (Kind.RAW_STRING, "`r`") in toks
    assert (Kind.VARIABLE, "$") in toks
    assert (Kind.ASSIGN, "=") in toks


def test_trim_markers_remove_surrounding_whitespace() -> None:
    assert kinds("a \n\t{{- 1 -}} \n b") == [
        (Kind.TEXT, "a"),
        (Kind.LEFT_DELIM, "{{"),
        (Kind.NUMBER, "1"),
        (Kind.RIGHT_DELIM, "}}"),
        (Kind.TEXT, "b"),
        (Kind.EOF, ""),
    ]


def test_minus_without_space_is_a_number_not_a_trim_marker() -> None:
    assert (Kind.NUMBER, "-3") in kinds("x {{-3}}")
    assert kinds("x {{-3}}")[0] == (Kind.TEXT, "x ")


def test_trim_marker_accepts_newline_and_tab_as_its_space() -> None:
    assert kinds("a  {{-\n1\t-}}  b")[0] == (Kind.TEXT, "a")
    assert kinds("a  {{-\n1\t-}}  b")[-2] == (Kind.TEXT, "b")


def test_comments_vanish_and_may_trim() -> None:
    assert kinds("a {{/* c */}} b") == [(Kind.TEXT, "a "), (Kind.TEXT, " b"), (Kind.EOF, "")]
    assert kinds("a {{- /* c */ -}} b") == [(Kind.TEXT, "a"), (Kind.TEXT, "b"), (Kind.EOF, "")]


def test_newlines_are_allowed_inside_actions() -> None:
    assert (Kind.FIELD, ".B") in kinds("{{ .A\n.B }}")


def test_text_without_actions_is_one_token() -> None:
    assert kinds("just text } { }") == [(Kind.TEXT, "just text } { }"), (Kind.EOF, "")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .A", "unclosed action"),
        ('{{ "abc }}', "unterminated quoted string"),
        ("{{ `abc }}", "unterminated raw quoted string"),
        ("{{ 'a }}", "unterminated character constant"),
        ("{{/* abc }}", "unclosed comment"),
        ("{{/* abc */ x}}", "comment ends before closing delimiter"),
        ("{{ 3x }}", 'bad number syntax: "3x"'),
        ("{{ a:b }}", "expected :="),
        ("{{ (1 }}", "unclosed left paren"),
        ("{{ 1) }}", "unexpected right paren"),
        ("{{ $x+1 }}", "bad character U+002B '+'"),
        ("{{ \u00a7 }}", "unrecognized character in action: U+00A7 '\u00a7'"),
    ],
)
def test_lexing_errors_end_with_an_error_token(text: str, message: str) -> None:
    last = lex(text)[-1]
    assert last.kind is Kind.ERROR
    assert last.val == message

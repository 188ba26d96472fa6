"""GBNF grammars the daemon hands to runners for constrained output."""

from __future__ import annotations

from typing import Any

__all__ = ["JSON_GRAMMAR", "grammar_for_format"]

# llama.cpp's grammars/json.gbnf (MIT): any JSON object, with bounded whitespace so
# that a small model cannot loop on newlines forever.
JSON_GRAMMAR = r"""
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4})
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

ws ::= | " " | "\n" [ \t]{0,20}
"""


def grammar_for_format(fmt: str | dict[str, Any] | None) -> str | None:
    """The grammar for a request's `format`: any JSON object for "json" or a schema.

    A JSON schema currently constrains output to well-formed JSON objects; compiling the
    schema itself into the grammar is the structured-output issue's work.
    """
    if fmt is None:
        return None
    return JSON_GRAMMAR

"""GBNF grammars the daemon hands to runners for constrained output."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from corral.daemon.schema_gbnf import SchemaError, compile_schema

__all__ = [
    "JSON_GRAMMAR",
    "SchemaError",
    "compile_schema",
    "format_from_response_format",
    "grammar_for_format",
    "grammar_for_response_format",
]

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


def grammar_for_format(fmt: str | Mapping[str, Any] | None) -> str | None:
    """The grammar for a native request's `format`: any JSON object for "json", else the schema's.

    Raises:
        SchemaError: the schema is malformed or cannot be enforced (a 400, before any model runs).
    """
    if fmt is None:
        return None
    if isinstance(fmt, str):
        if fmt == "json":
            return JSON_GRAMMAR
        raise SchemaError(f'invalid format: "{fmt}"; expected "json" or a valid JSON Schema object')
    return compile_schema(fmt)


def format_from_response_format(response_format: Any) -> str | dict[str, Any] | None:
    """OpenAI's `response_format` as a native `format` (what Ollama's middleware does).

    `{"type": "text"}` gives None, `{"type": "json_object"}` gives "json", and
    `{"type": "json_schema", "json_schema": {"schema": {...}}}` the schema (checked here).

    Raises:
        SchemaError: the object is malformed or its schema cannot be enforced.
    """
    if response_format is None:
        return None
    if not isinstance(response_format, Mapping):
        raise SchemaError("response_format must be an object")
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise SchemaError("response_format.json_schema.schema must be a JSON Schema object")
        compile_schema(schema)
        return dict(schema)
    raise SchemaError(
        f"invalid response_format type {json.dumps(kind)}; "
        "expected text, json_object or json_schema"
    )


def grammar_for_response_format(response_format: Any) -> str | None:
    """The grammar for OpenAI's `response_format` (see `format_from_response_format`)."""
    return grammar_for_format(format_from_response_format(response_format))

"""The JSON Schema → GBNF compiler: rule shapes and the schemas it refuses.

That llama.cpp accepts the grammars and that real output validates is checked against
SmolLM2 in tests/integration/test_structured_output.py.
"""

from __future__ import annotations

import re

import pytest

from corral.daemon.grammars import (
    JSON_GRAMMAR,
    format_from_response_format,
    grammar_for_format,
    grammar_for_response_format,
)
from corral.daemon.schema_gbnf import SchemaError, compile_schema


def _rules(grammar: str) -> dict[str, str]:
    rules = {}
    for line in grammar.splitlines():
        if " ::= " in line:
            name, body = line.split(" ::= ", 1)
            rules[name] = body
    return rules


def _referenced(grammar: str) -> set[str]:
    names: set[str] = set()
    for body in _rules(grammar).values():
        without_literals = re.sub(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]', " ", body)
        names |= set(re.findall(r"[a-z][a-z0-9-]*", without_literals))
    return names


def test_every_referenced_rule_is_defined() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 5},
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1},
            "next": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Node"}]},
            "kind": {"const": "x"},
            "score": {"type": ["number", "null"]},
        },
        "required": ["name"],
        "$defs": {"Node": {"type": "object", "properties": {"v": {"$ref": "#/$defs/Node"}}}},
    }
    grammar = compile_schema(schema)
    rules = _rules(grammar)
    assert rules["root"]
    assert _referenced(grammar) <= set(rules)


def test_required_properties_come_first_without_optional_commas() -> None:
    grammar = compile_schema(
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}},
            "required": ["a"],
        }
    )
    root = _rules(grammar)[_rules(grammar)["root"]]
    assert root.startswith('"{" ws "\\"a\\"" ws ":" ws string')
    assert '("," ws "\\"b\\"" ws ":" ws boolean)?' in root


def test_object_without_required_properties_may_be_empty() -> None:
    grammar = compile_schema({"type": "object", "properties": {"a": {}, "b": {}}})
    body = _rules(grammar)[_rules(grammar)["root"]]
    assert body.endswith(')? "}" ws')
    assert body.count('"\\"a\\""') == 1
    assert body.count('"\\"b\\""') == 2  # after a, or first


def test_array_bounds_become_repetitions() -> None:
    grammar = compile_schema({"type": "array", "items": {"type": "integer"}, "minItems": 2,
                              "maxItems": 4})  # fmt: skip
    assert _rules(grammar)[_rules(grammar)["root"]] == (
        '"[" ws integer ("," ws integer){1,3} "]" ws'
    )


def test_enum_and_const_are_json_literals() -> None:
    grammar = compile_schema({"enum": ['a"b', 3, None]})
    assert _rules(grammar)[_rules(grammar)["root"]] == ('"\\"a\\\\\\"b\\"" ws | "3" ws | "null" ws')


def test_non_negative_minimum_forbids_the_sign() -> None:
    assert "unsigned-integer" in compile_schema({"type": "integer", "minimum": 0}).split("\n")[0]
    assert compile_schema({"type": "number"}).split("\n")[0] == "root ::= number"


def test_empty_schema_is_any_value() -> None:
    assert compile_schema({}).split("\n")[0] == "root ::= value"


def test_recursive_ref_is_one_rule() -> None:
    grammar = compile_schema(
        {"$ref": "#/$defs/T", "$defs": {"T": {"type": "array", "items": {"$ref": "#/$defs/T"}}}}
    )
    rules = _rules(grammar)
    refs = [name for name in rules if name.startswith("ref-t")]
    assert refs == ["ref-t"]


def test_property_named_like_a_primitive_does_not_clash() -> None:
    grammar = compile_schema({"type": "object", "properties": {"string": {"type": "integer"}}})
    rules = _rules(grammar)
    assert rules["string"] == '"\\"" char* "\\"" ws'


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "strnig"}, 'unknown type "strnig" at root-value'),
        ({"type": "object", "properties": []}, '"properties" at root-value must be an object'),
        ({"type": "object", "required": "a"}, '"required" at root-value must be an array'),
        ({"type": "array", "minItems": 3, "maxItems": 1}, '"maxItems" 1 is less than'),
        ({"type": "string", "maxLength": -1}, '"maxLength" at root-value must be a non-negative'),
        ({"enum": []}, '"enum" at root-value must be a non-empty array'),
        ({"$ref": "#/$defs/Missing"}, "points to nothing"),
        ({"$ref": "http://example.com/s.json"}, "only local references"),
        ({"anyOf": "x"}, '"anyOf" at root-value must be a non-empty array'),
        ({"type": "object", "properties": {"a": False}}, "is false, so no value can match"),
        ({"type": "object", "properties": {"a": 3}}, "must be an object or a boolean"),
        ({"type": "array", "minItems": 100000}, "more than the 256 supported"),
        ({"allOf": [{"type": "string"}, {"type": "integer"}]}, 'conflicting "type" values'),
    ],
)
def test_bad_schemas_are_refused_with_the_reason(schema: object, message: str) -> None:
    with pytest.raises(SchemaError) as info:
        compile_schema(schema)
    assert message in str(info.value)
    assert info.value.status == 400


def test_too_deep_schema_is_refused() -> None:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(80):
        schema = {"type": "array", "items": schema}
    with pytest.raises(SchemaError, match="nested more than 64 levels"):
        compile_schema(schema)


def test_format_json_is_any_object_and_other_strings_are_refused() -> None:
    assert grammar_for_format("json") == JSON_GRAMMAR
    assert grammar_for_format(None) is None
    with pytest.raises(SchemaError, match='invalid format: "yaml"'):
        grammar_for_format("yaml")


def test_openai_response_format_maps_to_native_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert format_from_response_format({"type": "text"}) is None
    assert format_from_response_format({"type": "json_object"}) == "json"
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert format_from_response_format(rf) == schema
    assert grammar_for_response_format(rf) == compile_schema(schema)
    with pytest.raises(SchemaError, match=r"json_schema\.schema must be"):
        format_from_response_format({"type": "json_schema", "json_schema": {}})
    with pytest.raises(SchemaError, match='invalid response_format type "xml"'):
        format_from_response_format({"type": "xml"})

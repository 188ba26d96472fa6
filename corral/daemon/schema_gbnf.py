"""JSON Schema → llama.cpp GBNF: a grammar whose sentences are JSON values valid for the schema.

Pure logic, no llama.cpp. `compile_schema` is the one entry point (the native `format`
field and OpenAI's `response_format` both use it); a schema it cannot honour is rejected
with `SchemaError` (a 400) naming the keyword and where it sits, before any model runs.

Supported: `type` (one name or a list), `object` with `properties`/`required`/
`additionalProperties`, `array` with `items`/`prefixItems`/`minItems`/`maxItems`, `string`
with `enum`/`const`/`minLength`/`maxLength`, `number`/`integer` (a `minimum` of 0 or more
forbids the sign), `boolean`, `null`, `enum`/`const` of any JSON values, `anyOf`/`oneOf`,
a one-schema `allOf`, and local `$ref` to `#`, `#/$defs/...` or `#/definitions/...`
(recursion allowed). Properties are generated in declared order, required ones always,
optional ones maybe; extra properties only when the schema has no `properties` and
allows them. `pattern`, `format` and numeric bounds other than a non-negative minimum
are accepted but not enforced by the grammar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from corral.errors import SchemaError

__all__ = ["MAX_RULES", "SchemaError", "compile_schema"]

MAX_RULES = 4096
"""Most grammar rules one schema may produce (bounds work and memory in llama.cpp)."""

_MAX_REPEAT = 256
"""Bounds above this are left open: llama.cpp expands `x{m,n}` into n rules."""

_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")

_PRIMITIVES = r"""
ws ::= | " " | "\n" [ \t]{0,20}
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char* "\"" ws
integral ::= "0" | [1-9] [0-9]{0,15}
number ::= "-"? integral ("." [0-9]+)? ([eE] [-+]? [0-9]{1,3})? ws
unsigned-number ::= integral ("." [0-9]+)? ([eE] [-+]? [0-9]{1,3})? ws
integer ::= "-"? integral ws
unsigned-integer ::= integral ws
boolean ::= ("true" | "false") ws
null ::= "null" ws
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array ::= "[" ws ( value ("," ws value)* )? "]" ws
"""


def _literal(text: str) -> str:
    """A GBNF string literal matching `text` exactly."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_literal(value: Any) -> str:
    return _literal(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) + " ws"


def _repeat(item: str, low: int, high: int | None, sep: str = "") -> str:
    """`item` repeated between low and high times (high None: unbounded), `sep` between."""
    if high is not None and high > _MAX_REPEAT:
        high = None
    if low > _MAX_REPEAT:
        raise SchemaError(
            f"a minimum of {low} repetitions is more than the {_MAX_REPEAT} supported"
        )
    if high == 0:
        return ""
    rest = f"({sep} {item})" if sep else f"({item})"
    first_low = max(low - 1, 0)
    if high is None:
        tail = f"{rest}{{{first_low},}}" if first_low else f"{rest}*"
    else:
        tail = f"{rest}{{{first_low},{high - 1}}}" if high > 1 else ""
    body = f"{item} {tail}".strip()
    return body if low >= 1 else f"({body})?"


class _Compiler:
    def __init__(self, root: Mapping[str, Any] | bool) -> None:
        self.root = root
        self.rules: dict[str, str] = {}
        self.refs: dict[str, str] = {}

    def name(self, hint: str) -> str:
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", hint).strip("-").lower() or "r"
        name, n = base, 1
        while name in self.rules or name in _RESERVED:
            n += 1
            name = f"{base}-{n}"
        if len(self.rules) >= MAX_RULES:
            raise SchemaError(f"the schema needs more than {MAX_RULES} grammar rules")
        self.rules[name] = ""
        return name

    def add(self, hint: str, body: str) -> str:
        name = self.name(hint)
        self.rules[name] = body
        return name

    # -- the visitor ----------------------------------------------------------------------
    def visit(self, schema: Any, where: str, depth: int = 0) -> str:
        """A GBNF expression (usually a rule name) for `schema`, found at `where`."""
        if depth > 64:
            raise SchemaError(f"the schema is nested more than 64 levels deep at {where}")
        if schema is True or (isinstance(schema, Mapping) and not _constraining(schema)):
            return "value"
        if schema is False:
            raise SchemaError(f"the schema at {where} is false, so no value can match it")
        if not isinstance(schema, Mapping):
            raise SchemaError(
                f"the schema at {where} must be an object or a boolean, "
                f"not {json.dumps(schema)[:40]}"
            )
        if "$ref" in schema:
            return self.ref(schema["$ref"], where, depth)
        if "const" in schema:
            return self.add(where, _json_literal(schema["const"]))
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                raise SchemaError(f'"enum" at {where} must be a non-empty array')
            return self.add(where, " | ".join(_json_literal(v) for v in values))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = schema[key]
                if not isinstance(options, list) or not options:
                    raise SchemaError(f'"{key}" at {where} must be a non-empty array of schemas')
                rest = {k: v for k, v in schema.items() if k != key}
                alts = []
                for i, option in enumerate(options):
                    merged = _merge(rest, option, f"{where}.{key}[{i}]")
                    alts.append(self.visit(merged, f"{where}.{key}[{i}]", depth + 1))
                return self.add(where, " | ".join(alts))
        if "allOf" in schema:
            parts = schema["allOf"]
            if not isinstance(parts, list) or not parts:
                raise SchemaError(f'"allOf" at {where} must be a non-empty array of schemas')
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            combined: Any = rest
            for i, part in enumerate(parts):
                combined = _merge(combined, self.resolve(part, f"{where}.allOf[{i}]"), where)
            return self.visit(combined, where, depth + 1)
        types = schema.get("type")
        if types is None:
            types = _infer_type(schema)
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not types:
            raise SchemaError(f'"type" at {where} must be a type name or a non-empty array of them')
        for t in types:
            if t not in _TYPES:
                raise SchemaError(
                    f"unknown type {json.dumps(t)} at {where}; expected one of {', '.join(_TYPES)}"
                )
        if len(types) == 1:
            return self.typed(types[0], schema, where, depth)
        alts = [self.typed(t, schema, f"{where}-{t}", depth) for t in types]
        return self.add(where, " | ".join(alts))

    def resolve(self, schema: Any, where: str) -> Any:
        """Follow `$ref`s (for allOf merging) until a schema without one."""
        seen = 0
        while isinstance(schema, Mapping) and "$ref" in schema:
            seen += 1
            if seen > 32:
                raise SchemaError(f'"$ref" at {where} loops')
            schema = _lookup(self.root, schema["$ref"], where)
        return schema

    def ref(self, ref: Any, where: str, depth: int) -> str:
        target = _lookup(self.root, ref, where)
        key = str(ref)
        if key not in self.refs:
            name = self.name(f"ref-{key.rsplit('/', 1)[-1]}")
            self.refs[key] = name
            self.rules[name] = self.visit(target, key, depth + 1)
        return self.refs[key]

    def typed(self, kind: str, schema: Mapping[str, Any], where: str, depth: int) -> str:
        if kind == "object":
            return self.object(schema, where, depth)
        if kind == "array":
            return self.array(schema, where, depth)
        if kind == "string":
            return self.string(schema, where)
        if kind in ("number", "integer"):
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            unsigned = isinstance(low, int | float) and not isinstance(low, bool) and low >= 0
            return f"unsigned-{kind}" if unsigned else kind
        return kind  # boolean, null

    def string(self, schema: Mapping[str, Any], where: str) -> str:
        low = _count(schema, "minLength", where) or 0
        high = _count(schema, "maxLength", where)
        if high is not None and high < low:
            raise SchemaError(f'"maxLength" {high} is less than "minLength" {low} at {where}')
        if low == 0 and high is None:
            return "string"
        return self.add(where, f'"\\"" {_repeat("char", low, high) or ""} "\\"" ws')

    def array(self, schema: Mapping[str, Any], where: str, depth: int) -> str:
        low = _count(schema, "minItems", where) or 0
        high = _count(schema, "maxItems", where)
        if high is not None and high < low:
            raise SchemaError(f'"maxItems" {high} is less than "minItems" {low} at {where}')
        prefix = schema.get("prefixItems")
        items = schema.get("items", True)
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        if prefix is not None:
            if not isinstance(prefix, list):
                raise SchemaError(f'"prefixItems" at {where} must be an array of schemas')
            parts = [
                self.visit(p, f"{where}.prefixItems[{i}]", depth + 1) for i, p in enumerate(prefix)
            ]
            if len(parts) < low and items is False:
                raise SchemaError(f'"minItems" {low} cannot be met by the tuple at {where}')
            seq = ' "," ws '.join(parts)
            extra = ""
            if items is not False and (high is None or high > len(parts)):
                rule = self.visit(items, f"{where}.items", depth + 1)
                more_high = None if high is None else high - len(parts)
                more = _repeat(f'"," ws {rule}', max(low - len(parts), 0), more_high)
                extra = f" ({more})" if more else ""
            if not parts:
                return self.add(where, '"[" ws "]" ws')
            return self.add(where, f'"[" ws {seq}{extra} "]" ws')
        if items is False:
            return self.add(where, '"[" ws "]" ws')
        item = self.visit(items, f"{where}.items", depth + 1)
        body = _repeat(item, low, high, sep='"," ws')
        return self.add(where, f'"[" ws {body} "]" ws' if body else '"[" ws "]" ws')

    def object(self, schema: Mapping[str, Any], where: str, depth: int) -> str:
        props = schema.get("properties", {})
        if not isinstance(props, Mapping):
            raise SchemaError(f'"properties" at {where} must be an object')
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError(f'"required" at {where} must be an array of property names')
        extra = schema.get("additionalProperties", not props)
        names = list(props)
        for name in required:
            if name not in props:
                names.append(name)
        pairs: dict[str, str] = {}
        for name in names:
            sub = props.get(name, True)
            rule = self.visit(sub, f"{where}.{name}", depth + 1)
            pairs[name] = f'{_json_literal(name)} ":" ws {rule}'
        req = [pairs[n] for n in names if n in required]
        opt = [pairs[n] for n in names if n not in required]
        if not names:
            if extra is False:
                return self.add(where, '"{" ws "}" ws')
            value = self.visit(extra, f"{where}.additionalProperties", depth + 1)
            kv = f'string ":" ws {value}'
            return self.add(where, f'"{{" ws ({kv} ("," ws {kv})*)? "}}" ws')
        if req:
            body = ' "," ws '.join(req) + "".join(f' ("," ws {p})?' for p in opt)
        else:
            # No required property: the first one present carries no comma.
            alts = []
            for i, first in enumerate(opt):
                alts.append(first + "".join(f' ("," ws {p})?' for p in opt[i + 1 :]))
            body = "(" + " | ".join(f"({a})" for a in alts) + ")?"
        return self.add(where, f'"{{" ws {body} "}}" ws')


_RESERVED = frozenset([*re.findall(r"^([a-z-]+) ::=", _PRIMITIVES, flags=re.MULTILINE), "root"])

_CONSTRAINTS = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties", "items",
        "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "anyOf", "oneOf",
        "allOf", "$ref", "minimum", "exclusiveMinimum",
    }
)  # fmt: skip


def _constraining(schema: Mapping[str, Any]) -> bool:
    return any(key in schema for key in _CONSTRAINTS)


def _infer_type(schema: Mapping[str, Any]) -> str | list[str]:
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        return "object"
    if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
        return "array"
    if any(k in schema for k in ("minLength", "maxLength")):
        return "string"
    if any(k in schema for k in ("minimum", "exclusiveMinimum")):
        return "number"
    return list(_TYPES)


def _count(schema: Mapping[str, Any], key: str, where: str) -> int | None:
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f'"{key}" at {where} must be a non-negative integer, not {value!r}')
    return value


def _merge(base: Mapping[str, Any], extra: Any, where: str) -> Any:
    """`base` and `extra` as one schema (for `allOf` and the siblings of `anyOf`)."""
    if not base:
        return extra
    if extra is True:
        return dict(base)
    if not isinstance(extra, Mapping):
        raise SchemaError(f"the schema at {where} must be an object or a boolean")
    merged = dict(base)
    for key, value in extra.items():
        if key == "properties" and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        elif key == "required" and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *[r for r in value if r not in merged[key]]]
        elif key in merged and merged[key] != value and key not in ("description", "title"):
            raise SchemaError(
                f'conflicting "{key}" values at {where} cannot be merged into one grammar'
            )
        else:
            merged[key] = value
    return merged


def _lookup(root: Any, ref: Any, where: str) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SchemaError(
            f'"$ref" {json.dumps(ref)} at {where} is not supported; only local references '
            "such as #/$defs/Name are"
        )
    node = root
    for raw in ref[1:].split("/")[1:] if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaError(f'"$ref" {json.dumps(ref)} at {where} points to nothing')
    return node


def compile_schema(schema: Any) -> str:
    """The GBNF grammar (root rule `root`) for a JSON schema.

    Raises:
        SchemaError: the schema is malformed or asks for what the grammar cannot enforce.
    """
    if not isinstance(schema, Mapping | bool):
        raise SchemaError("the JSON schema must be an object")
    compiler = _Compiler(schema)
    root = compiler.visit(schema, "root-value")
    lines = [f"root ::= {root}"]
    lines += [f"{name} ::= {body}" for name, body in compiler.rules.items()]
    return "\n".join(lines) + "\n" + _PRIMITIVES

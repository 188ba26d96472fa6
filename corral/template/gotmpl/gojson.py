"""Go's `encoding/json.Marshal` output for template values (Ollama's `json` template function).

Byte-for-byte what Go writes: compact, map keys sorted, struct fields in declaration order,
`<`, `>`, `&`, U+2028 and U+2029 escaped as `\\u003c`-style sequences, floats in Go's shortest form
(`1` for 1.0, `1e+21`, `1e-7`), `[]byte` as base64. Values with a `go_json()` method encode
themselves, as Go types with `MarshalJSON` do.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

from corral.template.gotmpl.fmt import format_float_e, format_float_f
from corral.template.gotmpl.values import NO_VALUE, GoJSONMarshaler, is_struct, struct_fields

__all__ = ["JSONError", "go_json_dumps", "go_json_string"]

_MAX_DEPTH = 1000


class JSONError(ValueError):
    """The value cannot be encoded (NaN, infinity, a function, a cycle...)."""


def go_json_string(text: str) -> str:
    """A JSON string literal escaped the way Go's encoder does (HTML-safe)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
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
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _float(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        raise JSONError(f"json: unsupported value: {x}")
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    if abs(x) < 1e-6 or abs(x) >= 1e21:
        text = format_float_e(x)
        mantissa, _, exponent = text.partition("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa}e{exponent}"
    return format_float_f(x)


def _encode(value: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise JSONError("json: value nested too deeply")
    if value is None or value is NO_VALUE:
        out.append("null")
    elif isinstance(value, GoJSONMarshaler):
        out.append(value.go_json())
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, str):
        out.append(go_json_string(value))
    elif isinstance(value, bytes | bytearray):
        out.append('"' + base64.b64encode(bytes(value)).decode("ascii") + '"')
    elif isinstance(value, Mapping):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        out.append("{")
        for i, (key, item) in enumerate(items):
            if i:
                out.append(",")
            out.append(go_json_string(key))
            out.append(":")
            _encode(item, out, depth + 1)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, depth + 1)
        out.append("]")
    elif is_struct(value):
        out.append("{")
        for i, (name, item) in enumerate(struct_fields(value)):
            if i:
                out.append(",")
            out.append(go_json_string(name))
            out.append(":")
            _encode(item, out, depth + 1)
        out.append("}")
    else:
        raise JSONError(f"json: unsupported type: {type(value).__name__}")


def go_json_dumps(value: Any) -> str:
    """Encode `value` as Go's `json.Marshal` would; JSONError when Go would fail."""
    out: list[str] = []
    _encode(value, out, 0)
    return "".join(out)

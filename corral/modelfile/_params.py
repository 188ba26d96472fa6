"""Typed `PARAMETER` values: the names a Modelfile may set, their types, and text ⇄ value.

The table is Ollama's (`api.Options` + `api.Runner` JSON tags, reference §1.0 and
§3.3). Values are parsed the way Go's `strconv` parses them in `api.FormatParams`:
integers are base-10 `int64`, floats must fit a `float32`, booleans accept
`1 t T TRUE true True 0 f F FALSE false False`. `stop` is a list of strings that
repeated lines extend. Parameters Ollama has deprecated are listed separately:
a Modelfile that sets one gets a warning and the line is dropped, as in Ollama;
`numa`, `num_gqa` and `tfs_z` are not in that list and are unknown (an error).

`format_parameter_value` writes a value back the way `ollama show` prints it
(Go's `%v`: `0.7`, `1e-05`, `1e+06`, `true`), except that integers stay integers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from corral.api.options import OPTION_TYPES
from corral.errors import ModelfileError

__all__ = [
    "DEPRECATED_PARAMETERS",
    "PARAMETER_TYPES",
    "coerce_parameter",
    "format_parameter_value",
    "validate_parameter_value",
]

PARAMETER_TYPES: Mapping[str, type] = OPTION_TYPES
"""Every PARAMETER name a Modelfile may set and its type (`stop` is a list of strings)."""

DEPRECATED_PARAMETERS = frozenset(
    {
        "penalize_newline",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mlock",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
)
"""Names Ollama's Modelfile parser warns about and drops (`parser.deprecatedParameters`)."""

_REMOVED = frozenset({"numa", "num_gqa", "tfs_z"})

_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _quoted(raw: str) -> str:
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    return '"' + shown + '"'


def coerce_parameter(name: str, raw: str) -> int | float | bool | str:
    """Parse one PARAMETER value from its text, as `PARAMETER <name> <raw>` would.

    For `stop` the single stop string is returned; callers accumulate repeats into
    the list. The same check backs the REPL's `/set parameter`.

    Raises:
        ModelfileError: `name` is unknown or deprecated, or `raw` has the wrong type
            (`parameter "temperature" must be a number, got "hot"`); `line` is 0.
    """
    expected = PARAMETER_TYPES.get(name)
    if expected is None:
        if name in DEPRECATED_PARAMETERS:
            raise ModelfileError(f'parameter "{name}" is deprecated and no longer has any effect')
        if name in _REMOVED:
            raise ModelfileError(f'unknown parameter "{name}": it was removed from Ollama')
        raise ModelfileError(f"unknown parameter {_quoted(name)}")
    if expected is list or expected is str:
        return raw
    if expected is bool:
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise ModelfileError(f'parameter "{name}" must be true or false, got {_quoted(raw)}')
    if expected is int:
        if not _INT_RE.fullmatch(raw):
            raise ModelfileError(f'parameter "{name}" must be an integer, got {_quoted(raw)}')
        value = int(raw)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ModelfileError(
                f'parameter "{name}" must be an integer that fits in 64 bits, got {_quoted(raw)}'
            )
        return value
    if not _FLOAT_RE.fullmatch(raw):
        raise ModelfileError(f'parameter "{name}" must be a number, got {_quoted(raw)}')
    number = float(raw)
    if math.isinf(number) or abs(number) > _FLOAT32_MAX:
        raise ModelfileError(
            f'parameter "{name}" must be a number within float32 range, got {_quoted(raw)}'
        )
    return number


def validate_parameter_value(name: str, value: Any) -> None:
    """Check that a Python value is one `PARAMETER <name>` could have produced.

    Raises:
        ModelfileError: unknown name, or a value of the wrong type or range.
    """
    expected = PARAMETER_TYPES.get(name)
    if expected is None:
        coerce_parameter(name, "")  # raises the unknown/deprecated error
        return
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ModelfileError(f'parameter "{name}" must be a list of strings, got {value!r}')
        if not value:
            raise ModelfileError(f'parameter "{name}" must hold at least one string')
        return
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and _INT64_MIN <= value <= _INT64_MAX
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and abs(value) <= _FLOAT32_MAX
    if not ok:
        kind = {bool: "true or false", int: "a 64-bit integer", float: "a float32 number"}
        raise ModelfileError(f'parameter "{name}" must be {kind[expected]}, got {value!r}')


def format_parameter_value(value: Any, *, as_int: bool = False) -> str:
    """Write a parameter value as `ollama show` does (Go `%v`); integers stay integers.

    `as_int` prints an integral float as an integer (for int-typed parameters
    whose value came back from JSON as a float).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if as_int and value.is_integer():
            return str(int(value))
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """Go's `fmt.Sprintf("%v", float64)`: shortest digits, `%e` below 1e-4 or from 1e6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    exp = len(digits) + exponent - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return prefix + format(Decimal(repr(abs(value))).normalize(), "f")

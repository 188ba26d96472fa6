"""How Python values stand in for Go values inside the template engine.

| Go                                   | Python                                                    |
|--------------------------------------|-----------------------------------------------------------|
| invalid `reflect.Value` (no value)   | `NO_VALUE` (prints `<no value>`)                          |
| nil interface / nil pointer          | `None` (prints `<no value>` as an action, `<nil>` in fmt) |
| bool, int, float64, complex128       | bool, int, float, complex                                 |
| string                               | str (`len`/`index`/`slice` work on its UTF-8 bytes)       |
| []byte                               | bytes / bytearray                                         |
| slice, array                         | list, tuple                                               |
| map (keys visited in sorted order)   | any `Mapping`                                             |
| struct (fields by name)              | dataclass instance, or any object with a `__dict__`       |
| type with a `String()` method        | object with a `go_str()` method (`GoStringer`)            |
| type with a `MarshalJSON()` method   | object with a `go_json()` method (`GoJSONMarshaler`)      |

Only data is reachable from a template: fields, map keys and list items. Python methods and
attributes starting with `_` are never looked up, so a template cannot call into the process.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, Final, Protocol, runtime_checkable

__all__ = [
    "MISSING",
    "NO_VALUE",
    "GoJSONMarshaler",
    "GoStringer",
    "get_field",
    "go_type_name",
    "is_struct",
    "is_true",
    "map_items",
    "struct_fields",
]


class _NoValue:
    """Go's invalid `reflect.Value`: what a missing map key or nil data evaluates to."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


class _Missing:
    """Internal marker: "no final pipeline value" / "no such field"."""

    def __repr__(self) -> str:
        return "MISSING"


NO_VALUE: Final = _NoValue()
MISSING: Final = _Missing()


@runtime_checkable
class GoStringer(Protocol):
    """A value that prints itself, like a Go type with a `String() string` method."""

    def go_str(self) -> str: ...


@runtime_checkable
class GoJSONMarshaler(Protocol):
    """A value that encodes itself as JSON, like a Go type with `MarshalJSON`."""

    def go_json(self) -> str: ...


_NOT_STRUCTS = (
    str,
    bytes,
    bytearray,
    int,
    float,
    complex,
    bool,
    list,
    tuple,
    set,
    frozenset,
    type,
    types.ModuleType,
)


def is_struct(value: Any) -> bool:
    """Whether `value` is treated as a Go struct (fields looked up by name)."""
    if value is None or value is NO_VALUE or isinstance(value, (*_NOT_STRUCTS, Mapping)):
        return False
    if dataclasses.is_dataclass(value):
        return True
    return not callable(value) and hasattr(value, "__dict__")


def struct_fields(value: Any) -> list[tuple[str, Any]]:
    """The public fields of a struct-like value, in declaration order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            (f.name, getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        ]
    return [(k, v) for k, v in vars(value).items() if not k.startswith("_")]


def get_field(value: Any, name: str) -> Any:
    """Field `name` of a struct-like value, or `MISSING` when it has none."""
    if name.startswith("_"):
        return MISSING
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if any(f.name == name for f in dataclasses.fields(value)):
            return getattr(value, name)
        return MISSING
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict) and name in attrs:
        return attrs[name]
    return MISSING


def go_type_name(value: Any) -> str:
    """The Go type a value stands for, as Go's error messages and `%T` print it."""
    if value is None or value is NO_VALUE:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray):
        return "[]uint8"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if callable(value) and not is_struct(value):
        return "func"
    return type(value).__name__


def is_true(value: Any) -> bool:
    """Go's template truth: false, 0, nil, no value and empty strings/slices/maps are false."""
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | complex):
        return value != 0
    if isinstance(value, str | bytes | bytearray | list | tuple | Mapping | set | frozenset):
        return len(value) > 0
    return True


def _key_rank(key: Any) -> tuple[int, Any]:
    if key is None:
        return (0, 0)
    if isinstance(key, bool):
        return (1, int(key))
    if isinstance(key, int | float):
        if key != key:  # NaN sorts first, as in Go's fmtsort
            return (2, float("-inf"))
        return (2, key)
    if isinstance(key, str):
        return (3, key)
    return (4, repr(key))


def map_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """A map's items in Go's sorted-key order (numbers numerically, strings bytewise)."""
    return sorted(mapping.items(), key=lambda kv: _key_rank(kv[0]))

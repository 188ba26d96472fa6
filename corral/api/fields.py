"""Typed reads of JSON request bodies, each failure one sentence naming the field.

Go's JSON decoder (which Ollama uses) is strict about types: a string where a
boolean belongs is an error, and unknown fields are ignored. `Fields` gives the
same contract with messages a user can act on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from corral.errors import InvalidRequest

__all__ = ["Fields", "decode_body"]

_JSON_TYPES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def decode_body(raw: bytes) -> dict[str, Any]:
    """Decode a request body into a JSON object.

    A `null` body decodes as an empty object (Go decodes it to the zero value).

    Raises:
        InvalidRequest: the body is empty, not JSON, or not a JSON object.
    """
    if not raw.strip():
        raise InvalidRequest("missing request body")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"invalid JSON in request body: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    for py_type, name in _JSON_TYPES.items():
        if isinstance(value, py_type):
            return name
    return type(value).__name__


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class Fields:
    """Read fields of one JSON object; `prefix` names nested objects in messages."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self._data = data
        self._prefix = prefix

    def _name(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _fail(self, key: str, expected: str, value: object) -> InvalidRequest:
        return InvalidRequest(
            f'invalid value for "{self._name(key)}": expected {expected}, got {_show(value)}'
        )

    def raw(self, key: str) -> Any:
        return self._data.get(key)

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def string(self, key: str, default: str = "") -> str:
        value = self._data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def optional_string(self, key: str) -> str | None:
        return self.string(key) if self.has(key) else None

    def boolean(self, key: str, default: bool) -> bool:
        value = self._data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(key, "a boolean", value)
        return value

    def optional_boolean(self, key: str) -> bool | None:
        return self.boolean(key, False) if self.has(key) else None

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._data.get(key)
        if value is None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer", value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            name = self._name(key)
            if maximum is None:
                raise InvalidRequest(f"{name} must be at least {minimum}, got {value}")
            if minimum is None:
                raise InvalidRequest(f"{name} must be at most {maximum}, got {value}")
            raise InvalidRequest(f"{name} must be between {minimum} and {maximum}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self._data.get(key)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self._fail(key, "a number", value)
        return float(value)

    def object(self, key: str) -> dict[str, Any]:
        value = self._data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._fail(key, "an object", value)
        return value

    def array(self, key: str) -> list[Any]:
        value = self._data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "an array", value)
        return value

    def strings(self, key: str) -> list[str]:
        items = self.array(key)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self._fail(f"{key}[{index}]", "a string", item)
        return items

    def string_or_strings(self, key: str) -> list[str]:
        value = self._data.get(key)
        if isinstance(value, str):
            return [value]
        return self.strings(key)

    def string_map(self, key: str) -> dict[str, str]:
        mapping = self.object(key)
        for name, item in mapping.items():
            if not isinstance(item, str):
                raise self._fail(f"{key}.{name}", "a string", item)
        return mapping

    def nested(self, key: str, index: int | None = None) -> Fields:
        """Fields of a nested object (`messages[2].content` in messages)."""
        value = self._data.get(key) if index is None else self.array(key)[index]
        label = key if index is None else f"{key}[{index}]"
        if not isinstance(value, dict):
            raise self._fail(label, "an object", value)
        return Fields(value, f"{self._prefix}{label}.")

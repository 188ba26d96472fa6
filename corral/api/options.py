"""Generation options: Ollama's names, types and defaults, and how they merge.

Options come from three places, each overriding the one before: the defaults
below, the model's Modelfile `PARAMETER`s, and the request's `options`. Unknown
names are ignored with a logged warning and `null` values are skipped, as
Ollama does; a value of the wrong type is an error naming the option.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from corral.errors import InvalidRequest

__all__ = [
    "DEFAULT_OPTIONS",
    "DEPRECATED_OPTIONS",
    "OPTION_TYPES",
    "RUNNER_OPTIONS",
    "merge_options",
    "validate_option",
]

logger = logging.getLogger(__name__)

OPTION_TYPES: Mapping[str, type] = {
    "num_keep": int,
    "seed": int,
    "num_predict": int,
    "top_k": int,
    "top_p": float,
    "min_p": float,
    "typical_p": float,
    "repeat_last_n": int,
    "temperature": float,
    "repeat_penalty": float,
    "presence_penalty": float,
    "frequency_penalty": float,
    "stop": list,
    "num_ctx": int,
    "num_batch": int,
    "num_gpu": int,
    "main_gpu": int,
    "use_mmap": bool,
    "num_thread": int,
    "draft_num_predict": int,
}
"""Every option name Ollama accepts, with its JSON type (`stop` is a list of strings)."""

DEFAULT_OPTIONS: Mapping[str, Any] = {
    "num_keep": 4,
    "seed": -1,
    "num_predict": -1,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "temperature": 0.8,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "num_batch": 512,
    "num_gpu": -1,
    "num_thread": 0,
}
"""`api.DefaultOptions`; `num_ctx` is filled in by the scheduler from the machine."""

RUNNER_OPTIONS = frozenset(
    {"num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread"}
)
"""Options that shape the loaded runner; changing one means reloading the model."""

DEPRECATED_OPTIONS = frozenset(
    {
        "numa",
        "penalize_newline",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mlock",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "tfs_z",
        "num_gqa",
    }
)
"""Names Ollama once accepted and now ignores."""

_TYPE_NAMES = {int: "integer", float: "float32", bool: "boolean", str: "string", list: "array"}


def validate_option(name: str, value: Any) -> Any:
    """Check one option's type and return it in canonical form (ints widened to float).

    Raises:
        InvalidRequest: the value has the wrong type for the option.
    """
    expected = OPTION_TYPES[name]
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRequest(f'option "{name}" must be of an array of strings, got {value!r}')
        return list(value)
    if expected is bool:
        if not isinstance(value, bool):
            raise InvalidRequest(f'option "{name}" must be of type boolean, got {value!r}')
        return value
    if isinstance(value, bool):
        raise InvalidRequest(
            f'option "{name}" must be of type {_TYPE_NAMES[expected]}, got {value!r}'
        )
    if expected is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int):
            raise InvalidRequest(f'option "{name}" must be of type integer, got {value!r}')
        return value
    if not isinstance(value, int | float) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise InvalidRequest(f'option "{name}" must be of type float32, got {value!r}')
    return float(value)


def merge_options(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge defaults, model parameters and request options (later layers win).

    Unknown and deprecated names are dropped with a warning; `None` values are
    skipped so a client can send `"seed": null` to mean "default".
    """
    merged: dict[str, Any] = dict(DEFAULT_OPTIONS)
    for layer in layers:
        if not layer:
            continue
        for name, value in layer.items():
            if value is None:
                continue
            if name not in OPTION_TYPES:
                reason = "deprecated" if name in DEPRECATED_OPTIONS else "invalid"
                logger.warning("%s option provided option=%s", reason, name)
                continue
            merged[name] = validate_option(name, value)
    return merged

"""The functions every Go template can call (`text/template/funcs.go`), and the `Func` wrapper
that describes any template function: its arity and whether it sees "no value" as such.

`and`/`or` short-circuit and are evaluated by the executor itself; the rest are plain functions
here. A function signals a Go-style error by raising `FuncError`; the executor reports it as
`error calling NAME: MESSAGE`.
"""

from __future__ import annotations

import inspect
import types
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.template.gotmpl.fmt import sprint, sprint_value, sprintf, sprintln
from corral.template.gotmpl.values import NO_VALUE, go_type_name, is_struct, is_true

__all__ = ["BUILTINS", "Func", "FuncError", "as_func", "eval_args_string"]


class FuncError(Exception):
    """Raised by a template function to fail the execution with a message."""


@dataclass(frozen=True)
class Func:
    """A template function.

    `min_args`/`max_args` bound the argument count (`max_args=None`: variadic). With `raw=False`
    "no value" arguments arrive as `None` (Go converts them to a nil interface); with `raw=True`
    they arrive as `NO_VALUE` (Go's builtins take `reflect.Value`s and see the invalid value).
    """

    fn: Callable[..., Any]
    min_args: int = 0
    max_args: int | None = None
    raw: bool = False


def as_func(fn: Func | Callable[..., Any]) -> Func:
    """Wrap a plain callable as a `Func`, taking its arity from its signature."""
    if isinstance(fn, Func):
        return fn
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return Func(fn)
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    required = sum(1 for p in positional if p.default is inspect.Parameter.empty)
    return Func(fn, required, None if variadic else len(positional))


# -- comparison ----------------------------------------------------------------------------------
def _basic_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    return "invalid"


def _is_nil(v: Any) -> bool:
    return v is None or v is NO_VALUE


def _eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if not _is_nil(arg1) and not _is_nil(arg):
                raise FuncError(
                    "incompatible types for comparison: "
                    f"{go_type_name(arg1)} and {go_type_name(arg)}"
                )
            truth = False
        elif k1 != "invalid":
            truth = arg1 == arg
        elif _is_nil(arg1) or _is_nil(arg):
            truth = _is_nil(arg1) == _is_nil(arg)
        elif is_struct(arg1) and is_struct(arg) and type(arg1) is type(arg):
            truth = arg1 == arg
        elif isinstance(arg, Mapping | list | tuple | bytes | bytearray) or callable(arg):
            raise FuncError(f"non-comparable type {sprint_value(arg)}: {go_type_name(arg)}")
        else:
            raise FuncError(
                f"non-comparable types {sprint_value(arg1)}: {go_type_name(arg1)}, "
                f"{go_type_name(arg)}: {sprint_value(arg)}"
            )
        if truth:
            return True
    return False


def _ne(arg1: Any, arg2: Any) -> bool:
    return not _eq(arg1, arg2)


def _lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 == "invalid" or k2 == "invalid":
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError(
            f"incompatible types for comparison: {go_type_name(arg1)} and {go_type_name(arg2)}"
        )
    if k1 in ("bool", "complex"):
        raise FuncError("invalid type for comparison")
    if k1 == "string":
        return bool(arg1.encode("utf-8", "surrogatepass") < arg2.encode("utf-8", "surrogatepass"))
    return bool(arg1 < arg2)


def _le(arg1: Any, arg2: Any) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _gt(arg1: Any, arg2: Any) -> bool:
    return not _le(arg1, arg2)


def _ge(arg1: Any, arg2: Any) -> bool:
    return not _lt(arg1, arg2)


# -- collections ---------------------------------------------------------------------------------
def _length(item: Any) -> int:
    if _is_nil(item):
        raise FuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogatepass"))
    if isinstance(item, bytes | bytearray | list | tuple | Mapping | set | frozenset):
        return len(item)
    raise FuncError(f"len of type {go_type_name(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if _is_nil(index):
        raise FuncError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise FuncError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FuncError("index of untyped nil")
    for index in indexes:
        if _is_nil(item):
            raise FuncError("index of nil pointer")
        if isinstance(item, str):
            item = item.encode("utf-8", "surrogatepass")
        if isinstance(item, bytes | bytearray | list | tuple):
            x = _index_arg(index, len(item))
            if x == len(item):
                raise FuncError(f"reflect: slice index out of range: {x}")
            item = item[x]
        elif isinstance(item, Mapping):
            if _is_nil(index):
                raise FuncError("value is nil; should be of type string")
            if not isinstance(index, str) and any(isinstance(k, str) for k in item):
                raise FuncError(f"value has type {go_type_name(index)}; should be string")
            try:
                item = item.get(index)
            except TypeError:
                raise FuncError(f"unusable map key of type {go_type_name(index)}") from None
        else:
            raise FuncError(f"can't index item of type {go_type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    text = isinstance(item, str)
    if text:
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        seq: Sequence[Any] = item.encode("utf-8", "surrogatepass")
    elif isinstance(item, bytes | bytearray | list | tuple):
        seq = item
    else:
        raise FuncError(f"can't slice item of type {go_type_name(item)}")
    bounds = [0, len(seq), len(seq)]
    for i, index in enumerate(indexes):
        bounds[i] = _index_arg(index, len(seq))
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > bounds[2]:
        raise FuncError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    result = seq[bounds[0] : bounds[1]]
    if text:
        assert isinstance(result, bytes)
        return result.decode("utf-8", "replace")
    return result


# -- escaping ------------------------------------------------------------------------------------
def eval_args_string(args: Sequence[Any]) -> str:
    """Go's `evalArgs`: one string argument as is, anything else as `fmt.Sprint` would print it."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*args)


_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_JS = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def _html(*args: Any) -> str:
    return "".join(_HTML.get(ch, ch) for ch in eval_args_string(args))


def _js_char(ch: str) -> str:
    if ch in _JS:
        return _JS[ch]
    code = ord(ch)
    if code < 0x20:
        return f"\\u00{code:02X}"
    if code >= 0x80 and not ch.isprintable():
        return f"\\u{code:04X}"
    return ch


def _js(*args: Any) -> str:
    return "".join(_js_char(ch) for ch in eval_args_string(args))


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(eval_args_string(args), safe="")


# -- the rest ------------------------------------------------------------------------------------
def _not(arg: Any) -> bool:
    return not is_true(arg)


def _printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise FuncError(f"wrong type for value; expected string; got {go_type_name(fmt)}")
    return sprintf(fmt, *(None if a is NO_VALUE else a for a in args))


def _call(fn: Any, *args: Any) -> Any:
    if _is_nil(fn):
        raise FuncError("call of nil")
    if isinstance(fn, Func):
        func = fn
    elif isinstance(fn, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        func = as_func(fn)
    else:
        raise FuncError(f"non-function of type {go_type_name(fn)}")
    count = len(args)
    if count < func.min_args or (func.max_args is not None and count > func.max_args):
        want = func.min_args if func.max_args is None else func.max_args
        raise FuncError(f"wrong number of args: got {count} want {want}")
    if not func.raw:
        args = tuple(None if a is NO_VALUE else a for a in args)
    return func.fn(*args)


def _and_or(*args: Any) -> Any:  # evaluated by the executor (short-circuit); never called
    raise FuncError("and/or must be evaluated by the executor")


BUILTINS: dict[str, Func] = {
    "and": Func(_and_or, 1, None, raw=True),
    "or": Func(_and_or, 1, None, raw=True),
    "not": Func(_not, 1, 1, raw=True),
    "call": Func(_call, 1, None, raw=True),
    "html": Func(_html),
    "js": Func(_js),
    "urlquery": Func(_urlquery),
    "index": Func(_index, 1, None, raw=True),
    "slice": Func(_slice, 1, None, raw=True),
    "len": Func(_length, 1, 1, raw=True),
    "print": Func(sprint),
    "printf": Func(_printf, 1, None, raw=True),
    "println": Func(sprintln),
    "eq": Func(_eq, 1, None, raw=True),
    "ne": Func(_ne, 2, 2, raw=True),
    "lt": Func(_lt, 2, 2, raw=True),
    "le": Func(_le, 2, 2, raw=True),
    "gt": Func(_gt, 2, 2, raw=True),
    "ge": Func(_ge, 2, 2, raw=True),
}
"""Go's builtin template functions, by name."""

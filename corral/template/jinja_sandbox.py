"""The Jinja sandbox that renders untrusted GGUF chat templates under time and size limits.

`ChatTemplateEnvironment` is jinja2's `ImmutableSandboxedEnvironment` (no Python
internals, no mutation of lists or dicts) plus the limits the sandbox lacks: it stops a
template that loops forever, recurses, or builds a huge value, without threads. Every
hook checks the render's deadline and bounds what it is about to build:

- attribute and item lookups, calls, `for` iterations (each loop's iterable is wrapped
  at parse time) and every output chunk check the deadline;
- the binary operators `+ * ** %` are intercepted and refuse a result over the size
  limit *before* computing it (`"a" * 10**10`, `10**10**10`, `"%9999999999d" % 1`);
- `~` concatenation, `{% set %}`/macro output buffers, `str.format`, the growing `str`
  methods (`center`, `replace`, `join`...) and every filter are size-checked too.

The limits of the render in progress live in a context variable set by `limits_active`.
"""

from __future__ import annotations

import contextvars
import re
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import update_wrapper
from typing import Any, NoReturn

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace, _PassArg
from markupsafe import EscapeFormatter, Markup

from corral.errors import TemplateError

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "ChatTemplateEnvironment",
    "RenderLimits",
    "limits_active",
    "weight",
]

MIB = 1024 * 1024
DEFAULT_MAX_OUTPUT = 4 * MIB
#: The largest integer a template may compute, in bits (`10**10**10` is refused).
MAX_INT_BITS = 1 << 16
#: All text a render builds, summed over every intermediate value, in units of max_output.
ALLOCATION_FACTOR = 32
#: The widest `tojson` indent accepted.
MAX_JSON_INDENT = 64


def describe_size(size: int) -> str:
    """`4194304` → `4 MiB`; sizes count characters."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} characters"


class RenderLimits:
    """The deadline and size budgets of one render."""

    __slots__ = ("allocated", "deadline", "max_items", "max_output", "output", "time_limit")

    def __init__(self, time_limit: float | None, max_output: int) -> None:
        self.time_limit = time_limit
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        self.max_output = max_output
        self.max_items = max(1024, max_output // 16)
        self.allocated = 0
        self.output = 0

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TemplateError(f"chat template exceeded its time limit of {self.time_limit}s")

    def too_big(self) -> TemplateError:
        return TemplateError(f"chat template output exceeded {describe_size(self.max_output)}")

    def check_size(self, size: int) -> None:
        """Refuse a value that would be `size` characters long."""
        if size > self.max_output:
            raise self.too_big()

    def check_items(self, count: int) -> None:
        if count > self.max_items:
            raise TemplateError(
                f"chat template built a list of {count} items, over the limit of {self.max_items}"
            )

    def charge(self, size: int) -> None:
        """Account for `size` characters about to be built (one value, and the total)."""
        self.check_size(size)
        self.allocated += size
        budget = self.max_output * ALLOCATION_FACTOR
        if self.allocated > budget:
            raise TemplateError(f"chat template built more than {describe_size(budget)} of text")

    def emit(self, chunk: str) -> None:
        """Account for one chunk of the rendered output."""
        self.check_time()
        self.output += len(chunk)
        if self.output > self.max_output:
            raise self.too_big()


_ACTIVE: contextvars.ContextVar[RenderLimits | None] = contextvars.ContextVar(
    "corral_jinja_limits", default=None
)


def current() -> RenderLimits:
    """The limits of the render in progress (size limits only while compiling)."""
    return _ACTIVE.get() or RenderLimits(None, DEFAULT_MAX_OUTPUT)


@contextmanager
def limits_active(limits: RenderLimits) -> Iterator[RenderLimits]:
    """Make `limits` govern every template hook run inside the block."""
    token = _ACTIVE.set(limits)
    try:
        yield limits
    finally:
        _ACTIVE.reset(token)


def weight(value: Any, cap: int) -> int:
    """About how many characters `str(value)` gives; counting stops once past `cap`.

    Iterative, so self-nesting or deeply nested lists cannot exhaust the stack, and
    shared references count each time they appear, as their `repr` would.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 3
        elif isinstance(item, list | tuple | set | frozenset | dict):
            total += 2 + 2 * len(item)
            if total > cap:
                break
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        elif isinstance(item, Namespace):
            total += 14
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
        if total > cap:
            break
    return total


def _check_number(limits: RenderLimits, digits: str) -> None:
    if len(digits) > 9 or int(digits) > limits.max_output:
        raise limits.too_big()


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def check_percent_format(limits: RenderLimits, fmt: str, args: Any) -> None:
    """Bound `fmt % args` before it runs: widths, precisions and the arguments' size."""
    star = False
    for match in _PERCENT_SPEC.finditer(fmt):
        for group in match.groups():
            if group == "*":
                star = True
            elif group is not None:
                _check_number(limits, group)
    values = tuple(args.values()) if isinstance(args, dict) else args
    values = values if isinstance(values, tuple) else (values,)
    if star and any(isinstance(v, int) and abs(v) > limits.max_output for v in values):
        raise limits.too_big()
    limits.charge(len(fmt) + weight(values, limits.max_output))


def check_format_spec(limits: RenderLimits, spec: str) -> None:
    """Bound the width and precision in a `str.format` field spec such as `>9999999999`."""
    for digits in re.findall(r"\d+", spec):
        _check_number(limits, digits)


def check_binop(limits: RenderLimits, operator: str, left: Any, right: Any) -> None:
    """Refuse `left <operator> right` when its result would be over the limits."""
    sequences = (str, bytes, list, tuple)
    if operator == "*":
        if isinstance(left, int) and isinstance(right, sequences):
            left, right = right, left
        if isinstance(left, sequences) and isinstance(right, int):
            if right > 0 and isinstance(left, str | bytes):
                limits.charge(len(left) * right)
            elif right > 0 and left:
                limits.check_items(len(left) * right)
                limits.charge(weight(left, limits.max_output) * right)
        elif isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length())
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _check_bits(right * max(1, left.bit_length() - 1))
    elif operator == "+":
        if isinstance(left, str | bytes) and isinstance(right, str | bytes):
            limits.charge(len(left) + len(right))
        elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
            limits.check_items(len(left) + len(right))
            cap = limits.max_output
            limits.charge(weight(left, cap) + weight(right, cap))
    elif operator == "%" and isinstance(left, str):
        check_percent_format(limits, left, right)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateError(f"chat template computed a number over {MAX_INT_BITS} bits")


def _check_str_method(limits: RenderLimits, method: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Bound the `str` methods that can grow a string; returns the (possibly listed) args."""
    owner: str = method.__self__
    name: str = method.__name__
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        limits.charge(max(args[0], len(owner)))
    elif name == "expandtabs" and args and isinstance(args[0], int):
        limits.charge(len(owner) + owner.count("\t") * max(args[0], 0))
    elif name == "replace" and len(args) >= 2:
        _check_replace(limits, owner, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name == "join" and args:
        items = list(args[0])
        limits.check_items(len(items))
        limits.charge(len(owner) * len(items) + weight(items, limits.max_output))
        args = (items, *args[1:])
    return args


def _check_replace(limits: RenderLimits, text: Any, old: Any, new: Any, count: Any) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    limits.charge(len(text) + hits * max(0, len(new) - len(old)))


def _check_filter_args(
    limits: RenderLimits, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Per-filter checks that must run before the filter builds its result.

    `args` starts with the filtered value (any context argument already dropped).
    """

    def arg(index: int, key: str, default: Any = None) -> Any:
        return args[index] if len(args) > index else kwargs.get(key, default)

    if name == "center":
        width = arg(1, "width", 80)
        if isinstance(width, int):
            limits.charge(width)
    elif name == "indent":
        text, width = str(arg(0, "s", "")), arg(1, "width", 4)
        pad = width if isinstance(width, int) else len(str(width))
        limits.charge(len(text) + (text.count("\n") + 1) * max(pad, 0))
    elif name == "format" and args and isinstance(args[0], str):
        check_percent_format(limits, args[0], kwargs or args[1:])
    elif name == "tojson":
        indent = arg(2, "indent")
        if (isinstance(indent, int) and indent > MAX_JSON_INDENT) or (
            isinstance(indent, str) and len(indent) > MAX_JSON_INDENT
        ):
            raise TemplateError(f"chat template tojson indent is over {MAX_JSON_INDENT}")
    elif name in ("batch", "slice"):
        count = arg(1, "linecount" if name == "batch" else "slices")
        if isinstance(count, int):
            limits.check_items(count)
    elif name == "wordwrap":
        text, wrapstring = arg(0, "s", ""), arg(3, "wrapstring", "")
        if isinstance(wrapstring, str) and isinstance(text, str):
            limits.charge(len(text) * (1 + len(wrapstring)))
    elif name == "replace":
        _check_replace(limits, arg(0, "s"), arg(1, "old"), arg(2, "new"), arg(3, "count"))
    elif name == "join":
        value, delimiter = arg(0, "value", ()), arg(1, "d", "")
        count = len(value) if isinstance(value, list | tuple | str) else 0
        limits.charge(weight(value, limits.max_output) + len(str(delimiter)) * count)


#: Filters that neither stringify their input nor build anything much bigger than it.
_CHEAP_FILTERS = frozenset(
    (  # noqa: SIM905
        "abs attr batch bool count d default dictsort first float groupby int items last "
        "length list map max min random reject rejectattr reverse round select selectattr "
        "slice sort sum unique"
    ).split()
)


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that it checks the deadline and the size of what it builds."""
    cheap = name in _CHEAP_FILTERS
    skip = 1 if _PassArg.from_obj(func) is not None else 0

    def guarded(*args: Any, **kwargs: Any) -> Any:
        limits = current()
        limits.check_time()
        _check_filter_args(limits, name, args[skip:], kwargs)
        if not cheap:
            limits.check_size(weight((args, kwargs), limits.max_output))
        return _check_result(limits, func(*args, **kwargs))

    return update_wrapper(guarded, func)  # keeps jinja's pass_context/... markers


def _check_result(limits: RenderLimits, value: Any) -> Any:
    if isinstance(value, str | bytes):
        limits.charge(len(value))
    elif isinstance(value, list | tuple):
        limits.check_items(len(value))
    return value


class GuardedBuffer(list[str]):
    """The output buffer of a macro, `{% set %}` block, call or filter block."""

    __slots__ = ("_limits",)

    def __init__(self, limits: RenderLimits) -> None:
        super().__init__()
        self._limits = limits

    def append(self, item: str, /) -> None:
        self._limits.check_time()
        self._limits.charge(len(item))
        super().append(item)

    def extend(self, items: Any, /) -> None:
        items = tuple(items)
        self._limits.check_time()
        self._limits.charge(sum(len(item) for item in items))
        super().extend(items)


class _GuardedCodeGenerator(CodeGenerator):
    """Routes `~` and output buffers through the environment's guards."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.corral_buffer()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.corral_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _GuardedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        limits = current()
        check_format_spec(limits, format_spec)
        limits.check_size(weight(value, limits.max_output))
        return super().format_field(value, format_spec)


class _GuardedEscapeFormatter(_GuardedFormatter, EscapeFormatter):
    pass


class ChatTemplateEnvironment(ImmutableSandboxedEnvironment):
    """`ImmutableSandboxedEnvironment` with deadline and size checks on every hook."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, autoescape=False, **options)

    def guard_filters(self) -> None:
        """Wrap every registered filter; call once all filters are in place."""
        for name, func in list(self.filters.items()):
            self.filters[name] = guard_filter(name, func)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("corral_iter", lineno=loop.lineno),
                [loop.iter],
                [],
                None,
                None,
                lineno=loop.lineno,
            )
        return tree

    # -- hooks called by compiled template code ------------------------------------

    def corral_iter(self, iterable: Any) -> Iterator[Any]:
        limits = current()
        for item in iterable:
            limits.check_time()
            yield item

    def corral_buffer(self) -> GuardedBuffer:
        return GuardedBuffer(current())

    def corral_concat(self, parts: tuple[Any, ...]) -> str:
        limits = current()
        limits.check_size(weight(parts, limits.max_output))
        strings = [str(part) for part in parts]
        limits.charge(sum(len(s) for s in strings))
        return "".join(strings)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        limits = current()
        limits.check_time()
        if isinstance(obj, types.BuiltinMethodType | types.MethodType) and isinstance(
            obj.__self__, str
        ):
            args = _check_str_method(limits, obj, args)
        return _check_result(limits, super().call(context, obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        current().check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        current().check_time()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        limits = current()
        limits.check_time()
        check_binop(limits, operator, left, right)
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        """Fail at once, where jinja2 would return an Undefined that fails when used."""
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        owner: Any = value.__self__
        if not isinstance(owner, str):
            return None
        formatter: _GuardedFormatter
        if isinstance(owner, Markup):
            formatter = _GuardedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = _GuardedFormatter(self)
        is_format_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                kwargs, args = args[0], ()
            result = type(owner)(formatter.vformat(owner, args, kwargs))
            current().charge(len(result))
            return result

        return update_wrapper(wrapper, value)


def _finalize(value: Any) -> Any:
    """Runs on every `{{ expression }}` before `str()`: refuse values whose text is huge."""
    if not isinstance(value, str):
        limits = current()
        limits.check_size(weight(value, limits.max_output))
    return value

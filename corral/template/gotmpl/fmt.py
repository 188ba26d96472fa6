"""Go's `fmt` printing for template values: `Sprint`, `Sprintln`, `Sprintf` and the `%v` form.

Follows `fmt/print.go` and `fmt/format.go`: verbs `%v %+v %#v %T %s %q %x %X %d %b %o %O %c %U %t
%e %E %f %F %g %G %%`, flags `+ - # 0 space`, width and precision (also `*` and `[n]` argument
indexes), and Go's inline error forms (`%!d(string=hi)`, `%!v(MISSING)`, `%!(EXTRA int=1)`,
`%!(NOVERB)`, `%!(BADWIDTH)`). Floats print with Go's shortest round-trip digits (`1e+06`, not
`1000000.0`). Widths and precisions above 10^6 are rejected as Go does, so a format string cannot
ask for gigabytes of padding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from corral.template.gotmpl.values import (
    NO_VALUE,
    GoStringer,
    go_type_name,
    is_struct,
    map_items,
    struct_fields,
)

__all__ = [
    "float_digits",
    "format_float_e",
    "format_float_f",
    "format_float_shortest",
    "go_quote",
    "sprint",
    "sprint_value",
    "sprintf",
    "sprintln",
]

_TOO_LARGE = 1_000_000
_MAX_FORMATTED = 64 * 1024 * 1024
_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


# -- strconv.Quote -----------------------------------------------------------------------------
def _escape_rune(ch: str, quote: str, ascii_only: bool) -> str:
    if ch == quote or ch == "\\":
        return "\\" + ch
    code = ord(ch)
    if ascii_only:
        if code < 0x80 and ch.isprintable():
            return ch
    elif ch.isprintable():
        return ch
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str, *, ascii_only: bool = False, quote: str = '"') -> str:
    """Go's `strconv.Quote` (or `QuoteToASCII`): a double-quoted literal with Go escapes."""
    return quote + "".join(_escape_rune(ch, quote, ascii_only) for ch in text) + quote


def _can_backquote(text: str) -> bool:
    return all(ch == "\t" or (ch not in "`\ufeff\x7f" and ord(ch) >= 0x20) for ch in text)


# -- floats ------------------------------------------------------------------------------------
def float_digits(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of |x| and the decimal point position (Go's d.d, d.dp)."""
    _, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(str(d) for d in digits).lstrip("0")
    if not ds:
        return "", 0
    stripped = ds.rstrip("0")
    exponent += len(ds) - len(stripped)
    return stripped, len(stripped) + exponent


def _fmt_e_digits(ds: str, dp: int, prec: int, e: str = "e") -> str:
    first = ds[0] if ds else "0"
    text = first
    if prec > 0:
        rest = ds[1 : prec + 1]
        text += "." + rest + "0" * (prec - len(rest))
    exp = dp - 1 if ds else 0
    sign = "-" if exp < 0 else "+"
    return f"{text}{e}{sign}{abs(exp):02d}"


def _fmt_f_digits(ds: str, dp: int, prec: int) -> str:
    integer = (ds[:dp] + "0" * (dp - len(ds))) if dp > 0 else "0"
    if prec <= 0:
        return integer
    frac = "".join(ds[dp + i] if 0 <= dp + i < len(ds) else "0" for i in range(prec))
    return integer + "." + frac


def _special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return None


def format_float_shortest(x: float, upper: bool = False) -> str:
    """Go's `%v` for a float64 (`strconv.FormatFloat(x, 'g', -1, 64)`): shortest digits, in
    exponent form below 1e-4 and from 1e6 up (`1e+06`, `1.5e-05`)."""
    special = _special(x)
    if special is not None:
        return special
    ds, dp = float_digits(x)
    neg = "-" if math.copysign(1.0, x) < 0 else ""
    exp = dp - 1 if ds else -1
    if exp < -4 or exp >= 6:
        return neg + _fmt_e_digits(ds, dp, len(ds) - 1, "E" if upper else "e")
    return neg + _fmt_f_digits(ds, dp, max(len(ds) - dp, 0))


def format_float_f(x: float) -> str:
    """Shortest digits in plain decimal form (`strconv.FormatFloat(x, 'f', -1, 64)`)."""
    ds, dp = float_digits(x)
    neg = "-" if math.copysign(1.0, x) < 0 and ds else ""
    return neg + _fmt_f_digits(ds, dp, max(len(ds) - dp, 0))


def format_float_e(x: float) -> str:
    """Shortest digits in exponent form (`strconv.FormatFloat(x, 'e', -1, 64)`)."""
    ds, dp = float_digits(x)
    neg = "-" if math.copysign(1.0, x) < 0 else ""
    return neg + _fmt_e_digits(ds, dp, max(len(ds) - 1, 0))


# -- the printer -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Spec:
    plus: bool = False
    minus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None
    plus_v: bool = False
    sharp_v: bool = False


_PLAIN = _Spec()


def _pad(text: str, spec: _Spec, zero: bool | None = None) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    use_zero = spec.zero if zero is None else zero
    return ("0" if use_zero else " ") * fill + text


def _bad_verb(value: Any, verb: str) -> str:
    if value is None or value is NO_VALUE:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(value)}={_format(value, 'v', _PLAIN, 0)})"


def _truncate(text: str, spec: _Spec) -> str:
    return text[: spec.prec] if spec.prec is not None else text


def _fmt_string(text: str, verb: str, spec: _Spec) -> str | None:
    if verb == "v" and spec.sharp_v:
        return _pad(go_quote(text), spec)
    if verb in ("v", "s"):
        return _pad(_truncate(text, spec), spec)
    if verb == "q":
        text = _truncate(text, spec)
        if spec.sharp and _can_backquote(text):
            return _pad("`" + text + "`", spec)
        return _pad(go_quote(text, ascii_only=spec.plus), spec)
    if verb in ("x", "X"):
        return _pad(_hex_bytes(text.encode("utf-8", "replace"), verb, spec), spec)
    return None


def _hex_bytes(data: bytes, verb: str, spec: _Spec) -> str:
    if spec.prec is not None:
        data = data[: spec.prec]
    digits = data.hex() if verb == "x" else data.hex().upper()
    prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
    if spec.space:
        return " ".join(prefix + digits[i : i + 2] for i in range(0, len(digits), 2))
    return prefix + digits if digits else ""


def _fmt_integer(n: int, verb: str, spec: _Spec) -> str | None:
    if verb == "c":
        return _pad(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        ch = chr(n) if 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else "\ufffd"
        return _pad(go_quote(ch, ascii_only=spec.plus, quote="'"), spec)
    if verb == "U":
        text = f"U+{n:04X}" if n >= 0 else f"U+{n & 0xFFFFFFFFFFFFFFFF:04X}"
        if spec.sharp and 0 <= n <= 0x10FFFF and chr(n).isprintable():
            text += f" '{chr(n)}'"
        return _pad(text, spec)
    base = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}.get(verb)
    if base is None:
        return None
    negative = n < 0
    digits = _to_base(abs(n), base, upper=verb == "X")
    prec = 0
    if spec.prec is not None:
        prec = spec.prec
        if prec == 0 and n == 0:
            return _pad("", replace(spec, zero=False))
    elif spec.zero and not spec.minus and spec.width is not None:
        prec = spec.width - (1 if negative or spec.plus or spec.space else 0)
    digits = "0" * max(prec - len(digits), 0) + digits
    prefix = ""
    if spec.sharp and verb != "v":
        if base == 2:
            prefix = "0b"
        elif base == 8 and not digits.startswith("0"):
            prefix = "0"
        elif base == 16:
            prefix = "0x" if verb == "x" else "0X"
    if verb == "O":
        prefix = "0o"
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + prefix + digits, replace(spec, zero=False))


def _to_base(n: int, base: int, upper: bool) -> str:
    if base == 10:
        return str(n)
    text = format(n, {2: "b", 8: "o", 16: "x"}[base])
    return text.upper() if upper else text


def _fmt_float(x: float, verb: str, spec: _Spec) -> str | None:
    if verb not in "vbgGxXfFeE" or len(verb) != 1:
        return None
    special = _special(x)
    if special is not None:
        if special == "NaN" and (spec.plus or spec.space):
            special = ("+" if spec.plus else " ") + special
        elif special == "+Inf" and spec.space and not spec.plus:
            special = " Inf"
        return _pad(special, replace(spec, zero=False))
    prec = spec.prec
    if verb in ("v", "g", "G") and prec is None:
        body = format_float_shortest(abs(x), upper=verb == "G")
    elif verb in ("g", "G", "v"):
        body = format(abs(x), f".{prec}{'G' if verb == 'G' else 'g'}")
    elif verb in ("f", "F"):
        body = format(abs(x), f".{6 if prec is None else prec}f")
    elif verb in ("e", "E"):
        body = format(abs(x), f".{6 if prec is None else prec}{verb}")
    elif verb == "b":
        mant, exp = math.frexp(abs(x))
        body = f"{int(mant * (1 << 53))}p{exp - 53:+d}" if x else "0p-1074"
    else:
        body = _hex_float(abs(x), upper=verb == "X")
    if spec.sharp and "." not in body and verb in "gGvfFeE" and "e" not in body.lower():
        body += "."
    negative = math.copysign(1.0, x) < 0
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    if spec.zero and not spec.minus and spec.width is not None:
        body = "0" * max(spec.width - len(sign) - len(body), 0) + body
    return _pad(sign + body, replace(spec, zero=False))


def _hex_float(x: float, upper: bool) -> str:
    if x == 0:
        text = "0x0p+00"
    else:
        mantissa, _, exponent = x.hex().partition("p")
        mantissa = mantissa.rstrip("0").rstrip(".")
        exp = int(exponent)
        text = f"{mantissa}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return text.upper().replace("0X", "0X") if upper else text


def _fmt_complex(c: complex, verb: str, spec: _Spec) -> str | None:
    if verb not in "vbgGxXfFeE" or len(verb) != 1:
        return None
    inner = replace(spec, width=None)
    real = _fmt_float(c.real, verb, inner)
    imag = _fmt_float(c.imag, verb, replace(inner, plus=True))
    if real is None or imag is None:
        return None
    return _pad(f"({real}{imag}i)", replace(spec, zero=False))


def _format(value: Any, verb: str, spec: _Spec, depth: int) -> str:
    """Format one operand like Go's `printArg`/`printValue`."""
    if verb == "T":
        return _pad(go_type_name(value), spec)
    if value is None or value is NO_VALUE:
        if depth > 0 or verb == "v":
            return _pad("<nil>", spec)
        return _bad_verb(value, verb)
    if isinstance(value, GoStringer) and verb in "vsxXq" and not spec.sharp_v:
        result = _fmt_string(value.go_str(), verb, spec)
        if result is not None:
            return result
    out: str | None
    if isinstance(value, bool):
        out = _pad("true" if value else "false", spec) if verb in ("t", "v") else None
    elif isinstance(value, int):
        out = _fmt_integer(value, verb, spec)
    elif isinstance(value, float):
        out = _fmt_float(value, verb, spec)
    elif isinstance(value, complex):
        out = _fmt_complex(value, verb, spec)
    elif isinstance(value, str):
        out = _fmt_string(value, verb, spec)
    elif isinstance(value, bytes | bytearray):
        out = _fmt_bytes(bytes(value), verb, spec, depth)
    elif isinstance(value, Mapping):
        out = _fmt_map(value, verb, spec, depth)
    elif isinstance(value, Sequence):
        out = _fmt_list(value, verb, spec, depth)
    elif is_struct(value):
        out = _fmt_struct(value, verb, spec, depth)
    else:
        out = _pad(str(value), spec) if verb in "vs" else None
    return out if out is not None else _bad_verb(value, verb)


def _fmt_bytes(data: bytes, verb: str, spec: _Spec, depth: int) -> str:
    if verb in ("s", "q", "x", "X"):
        if verb in ("x", "X"):
            return _pad(_hex_bytes(data, verb, spec), spec)
        result = _fmt_string(data.decode("utf-8", "replace"), verb, spec)
        assert result is not None
        return result
    return _fmt_list(list(data), verb, spec, depth)


def _fmt_list(items: Sequence[Any], verb: str, spec: _Spec, depth: int) -> str:
    parts = [_format(item, verb, spec, depth + 1) for item in items]
    if spec.sharp_v:
        return "[]interface {}{" + ", ".join(parts) + "}"
    return "[" + " ".join(parts) + "]"


def _fmt_map(mapping: Mapping[Any, Any], verb: str, spec: _Spec, depth: int) -> str:
    parts = [
        _format(k, verb, spec, depth + 1) + ":" + _format(v, verb, spec, depth + 1)
        for k, v in map_items(mapping)
    ]
    if spec.sharp_v:
        return "map[string]interface {}{" + ", ".join(parts) + "}"
    return "map[" + " ".join(parts) + "]"


def _fmt_struct(value: Any, verb: str, spec: _Spec, depth: int) -> str:
    parts = []
    for name, field_value in struct_fields(value):
        text = _format(field_value, verb, spec, depth + 1)
        parts.append(f"{name}:{text}" if spec.plus_v or spec.sharp_v else text)
    if spec.sharp_v:
        return go_type_name(value) + "{" + ", ".join(parts) + "}"
    return "{" + " ".join(parts) + "}"


def sprint_value(value: Any) -> str:
    """`fmt.Sprint(value)` for one value: its `%v` form."""
    if isinstance(value, str):
        return value
    return _format(value, "v", _PLAIN, 0)


def sprint(*args: Any) -> str:
    """`fmt.Sprint`: operands in `%v` form, spaces only between two non-string operands."""
    out: list[str] = []
    prev_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(sprint_value(arg))
        prev_string = is_string
    return "".join(out)


def sprintln(*args: Any) -> str:
    """`fmt.Sprintln`: operands in `%v` form separated by spaces, then a newline."""
    return " ".join(sprint_value(a) for a in args) + "\n"


def _parse_num(fmt: str, i: int) -> tuple[int | None, int]:
    """Digits at `fmt[i:]`: (number or None, next index); a crazy-long number ends the format."""
    num = 0
    start = i
    while i < len(fmt) and "0" <= fmt[i] <= "9":
        if num > _TOO_LARGE:
            return None, len(fmt)
        num = num * 10 + int(fmt[i])
        i += 1
    return (num if i > start else None), i


class _Printf:
    def __init__(self, fmt: str, args: Sequence[Any]) -> None:
        self.fmt = fmt
        self.args = args
        self.arg_num = 0
        self.reordered = False
        self.good_arg_num = True
        self.out: list[str] = []
        self.size = 0

    def arg_number(self, i: int) -> tuple[int, bool]:
        """Parse an explicit `[n]` argument index at `fmt[i]`; returns (next index, found)."""
        fmt = self.fmt
        if i >= len(fmt) or fmt[i] != "[":
            return i, False
        self.reordered = True
        close = fmt.find("]", i + 1)
        if len(fmt) - i < 3 or close < 0:
            self.good_arg_num = False
            return i + 1, False
        num, end = _parse_num(fmt, i + 1)
        if num is None or end != close:
            self.good_arg_num = False
            return close + 1, False
        if 1 <= num <= len(self.args):
            self.arg_num = num - 1
            return close + 1, True
        self.good_arg_num = False
        return close + 1, True

    def int_from_arg(self) -> int | None:
        if self.arg_num >= len(self.args):
            return None
        arg = self.args[self.arg_num]
        self.arg_num += 1
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) <= _TOO_LARGE:
            return arg
        return None

    def run(self) -> str:
        fmt, out = self.fmt, self.out
        end = len(fmt)
        i = 0
        after_index = False
        while i < end:
            self.good_arg_num = True
            j = fmt.find("%", i)
            if j < 0:
                out.append(fmt[i:])
                break
            out.append(fmt[i:j])
            i = j + 1
            flags = {"plus": False, "minus": False, "sharp": False, "space": False, "zero": False}
            while i < end and fmt[i] in "#0+- ":
                c = fmt[i]
                if c == "#":
                    flags["sharp"] = True
                elif c == "0":
                    flags["zero"] = not flags["minus"]
                elif c == "+":
                    flags["plus"] = True
                elif c == "-":
                    flags["minus"] = True
                    flags["zero"] = False
                else:
                    flags["space"] = True
                i += 1
            i, after_index = self.arg_number(i)
            width: int | None = None
            if i < end and fmt[i] == "*":
                i += 1
                width = self.int_from_arg()
                if width is None:
                    out.append("%!(BADWIDTH)")
                elif width < 0:
                    width = -width
                    flags["minus"] = True
                    flags["zero"] = False
                after_index = False
            else:
                width, i = _parse_num(fmt, i)
                if after_index and width is not None:
                    self.good_arg_num = False
            prec: int | None = None
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    self.good_arg_num = False
                i, after_index = self.arg_number(i)
                if i < end and fmt[i] == "*":
                    i += 1
                    prec = self.int_from_arg()
                    if prec is not None and prec < 0:
                        prec = None
                    if prec is None:
                        out.append("%!(BADPREC)")
                    after_index = False
                else:
                    prec, i = _parse_num(fmt, i)
                    if prec is None:
                        prec = 0
            if not after_index:
                i, after_index = self.arg_number(i)
            if i >= end:
                out.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            spec = _Spec(width=width, prec=prec, **flags)
            self.size += (width or 0) + (prec or 0)
            if self.size > _MAX_FORMATTED:
                raise ValueError(f"formatted output exceeds {_MAX_FORMATTED} characters")
            if verb == "%":
                out.append("%")
            elif not self.good_arg_num:
                out.append(f"%!{verb}(BADINDEX)")
            elif self.arg_num >= len(self.args):
                out.append(f"%!{verb}(MISSING)")
            else:
                if verb == "v":
                    spec = replace(
                        spec, sharp_v=spec.sharp, sharp=False, plus_v=spec.plus, plus=False
                    )
                out.append(_format(self.args[self.arg_num], verb, spec, 0))
                self.arg_num += 1
        if not self.reordered and self.arg_num < len(self.args):
            extra = [
                "<nil>" if a is None or a is NO_VALUE else f"{go_type_name(a)}={sprint_value(a)}"
                for a in self.args[self.arg_num :]
            ]
            out.append("%!(EXTRA " + ", ".join(extra) + ")")
        return "".join(out)


def sprintf(fmt: str, *args: Any) -> str:
    """`fmt.Sprintf` with Go's verbs, flags and inline error forms."""
    return _Printf(fmt, args).run()

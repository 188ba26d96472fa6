"""Go literal syntax for templates: `strconv.Unquote` for string/raw/char literals and the numeric
literal rules of `text/template/parse.NumberNode` (ints with `0x`/`0o`/`0b`/leading-`0` prefixes and
`_` separators, floats including hex floats, imaginary and complex numbers, character constants).
"""

from __future__ import annotations

import re

from corral.template.gotmpl.nodes import NumberNode

__all__ = ["INT64_MAX", "INT64_MIN", "parse_number", "unquote"]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


def _unquote_char(s: str, i: int, quote: str, out: bytearray) -> int:
    """Decode the character or escape at `s[i]` into `out`; return the index after it."""
    ch = s[i]
    if ch == quote and quote in "'\"":
        raise ValueError("invalid syntax")
    if ch != "\\":
        out += ch.encode("utf-8", "surrogatepass")
        return i + 1
    if i + 1 >= len(s):
        raise ValueError("invalid syntax")
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESCAPES:
        out += _SIMPLE_ESCAPES[c].encode()
        return i
    if c in "'\"":
        if c != quote:
            raise ValueError("invalid syntax")
        out += c.encode()
        return i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + n]
        if len(digits) != n or any(d not in _HEX for d in digits):
            raise ValueError("invalid syntax")
        value = int(digits, 16)
        if c == "x":
            out.append(value)
        else:
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ValueError("invalid syntax")
            out += chr(value).encode()
        return i + n
    if c in _OCTAL:
        digits = s[i - 1 : i + 2]
        if len(digits) != 3 or any(d not in _OCTAL for d in digits):
            raise ValueError("invalid syntax")
        value = int(digits, 8)
        if value > 255:
            raise ValueError("invalid syntax")
        out.append(value)
        return i + 2
    raise ValueError("invalid syntax")


def unquote(quoted: str) -> str:
    """Go's `strconv.Unquote` of a `"..."`, `` `...` `` or `'.'` literal; ValueError if malformed.

    Byte escapes (`\\xff`, `\\377`) that do not form valid UTF-8 decode to U+FFFD.
    """
    if len(quoted) < 2 or quoted[0] != quoted[-1] or quoted[0] not in "\"'`":
        raise ValueError("invalid syntax")
    quote, body = quoted[0], quoted[1:-1]
    if quote == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if "\n" in body:
        raise ValueError("invalid syntax")
    out = bytearray()
    i = 0
    runes = 0
    while i < len(body):
        i = _unquote_char(body, i, quote, out)
        runes += 1
    if quote == "'" and runes != 1:
        raise ValueError("invalid syntax")
    return out.decode("utf-8", "replace")


_DIGITS = {2: "01", 8: _OCTAL, 10: "0123456789", 16: _HEX}


def _parse_integer(text: str, signed: bool) -> int | None:
    """Go's `strconv.ParseInt`/`ParseUint` with base 0; None when the text is no such integer."""
    s = text
    negative = False
    if s[:1] in ("+", "-"):
        if not signed:
            return None
        negative = s[0] == "-"
        s = s[1:]
    prefixed = False
    base = 10
    if len(s) >= 2 and s[0] == "0" and s[1] in "xXoObB":
        base = {"x": 16, "o": 8, "b": 2}[s[1].lower()]
        s = s[2:]
        prefixed = True
    elif len(s) >= 2 and s[0] == "0":
        base = 8
        s = s[1:]
        prefixed = True
    if not s:
        return None
    pattern = "_?" if prefixed else ""
    digits = re.escape(_DIGITS[base])
    if not re.fullmatch(f"{pattern}[{digits}]+(_[{digits}]+)*", s):
        return None
    value = int(s.replace("_", ""), base)
    if negative:
        value = -value
    if signed and not INT64_MIN <= value <= INT64_MAX:
        return None
    if not signed and value > UINT64_MAX:
        return None
    return value


_DIGITS_RE = r"[0-9]+(?:_[0-9]+)*"
_DECIMAL_FLOAT = re.compile(
    rf"(?:{_DIGITS_RE}(?:\.(?:{_DIGITS_RE})?)?|\.{_DIGITS_RE})(?:[eE][+-]?{_DIGITS_RE})?"
)


def _parse_float(text: str) -> float | None:
    s = text
    body = s.lstrip("+-")
    try:
        if body[:2].lower() == "0x":
            if "p" not in body.lower():
                return None
            value = float.fromhex(body.replace("_", ""))
            return -value if s.startswith("-") else value
        if not _DECIMAL_FLOAT.fullmatch(body):
            return None
        return float(s.replace("_", ""))
    except (ValueError, OverflowError):
        return None


def _simplify(node: NumberNode) -> None:
    """A complex constant with no imaginary part is also a float (and maybe an int)."""
    c = node.complex_value
    if c.imag == 0:
        node.is_float = True
        node.float_value = c.real
        if c.real.is_integer() and INT64_MIN <= c.real <= INT64_MAX:
            node.is_int = True
            node.int_value = int(c.real)
        if c.real.is_integer() and 0 <= c.real <= UINT64_MAX:
            node.is_uint = True


def parse_number(pos: int, text: str, is_char: bool) -> NumberNode:
    """Read a numeric or character literal the way Go's template parser does."""
    node = NumberNode(pos, text)
    if is_char:
        try:
            char = unquote(text)
        except ValueError:
            raise ValueError(f"malformed character constant: {text}") from None
        if len(char) != 1:
            raise ValueError(f"malformed character constant: {text}")
        rune = ord(char)
        node.is_int = node.is_uint = node.is_float = True
        node.int_value = rune
        node.float_value = float(rune)
        return node
    if text.endswith("i"):
        imag = _parse_float(text[:-1])
        if imag is None:
            real_part = _split_complex(text)
            if real_part is None:
                raise ValueError(f"illegal number syntax: {_q(text)}")
            node.complex_value = real_part
        else:
            node.complex_value = complex(0, imag)
        node.is_complex = True
        _simplify(node)
        return node
    as_uint = _parse_integer(text, signed=False)
    as_int = _parse_integer(text, signed=True)
    if as_uint is not None:
        node.is_uint = True
    if as_int is not None:
        node.is_int = True
        node.int_value = as_int
    if as_int is not None or as_uint is not None:
        node.is_float = True
        node.float_value = float(as_int if as_int is not None else as_uint or 0)
        return node
    value = _parse_float(text)
    if value is None:
        raise ValueError(f"illegal number syntax: {_q(text)}")
    if not any(c in text for c in ".eEpP"):
        raise ValueError(f"integer overflow: {_q(text)}")
    node.is_float = True
    node.float_value = value
    if value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        node.is_int = True
        node.int_value = int(value)
    if value.is_integer() and 0 <= value <= UINT64_MAX:
        node.is_uint = True
    return node


def _split_complex(text: str) -> complex | None:
    """`1+2i` style constants (Go scans them with fmt.Sscan)."""
    m = re.fullmatch(
        r"([+-]?[0-9_.]+(?:[eE][+-]?[0-9]+)?)([+-][0-9_.]+(?:[eE][+-]?[0-9]+)?)i", text
    )
    if m is None:
        return None
    real, imag = _parse_float(m.group(1)), _parse_float(m.group(2))
    if real is None or imag is None:
        return None
    return complex(real, imag)


def _q(text: str) -> str:
    from corral.template.gotmpl.fmt import go_quote

    return go_quote(text)

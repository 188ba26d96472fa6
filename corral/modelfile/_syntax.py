"""Modelfile syntax: decoding, the line scanner that yields `Instruction`s, and quoting.

This follows Ollama's state-machine parser (`parser/parser.go`, reference §3.1):

* Input is UTF-8, or UTF-16 LE/BE with a byte-order mark; a UTF-8 BOM is dropped.
* `INSTRUCTION args`: the name is letters only and case-insensitive; one space or
  tab separates it from its argument. `#` as the first non-blank character starts
  a comment line; elsewhere `#` is literal.
* An argument runs to the end of its line and is whitespace-trimmed. It may be
  quoted with `"…"` or `\"\"\"…\"\"\"`; quotes are stripped and there are no escapes.
  A quoted argument ends at the first line end where the text so far, trimmed,
  ends with the closing quote — so text may hold `"` (and `\"\"\"` inside `\"\"\"…\"\"\"`)
  anywhere except just before a line break.
* `PARAMETER <name> <value>`: the name is `[A-Za-z0-9_]+` and case-sensitive.
  `MESSAGE <role> <content>`: the role is exactly `system`, `user` or `assistant`.

Where Ollama's scanner is loose, corral is stricter, on purpose:

* `\\r\\n` and lone `\\r` are line ends everywhere (Ollama keeps `\\r` inside quoted
  text and counts CRLF as two lines), so CRLF files parse exactly like LF files.
* Control characters other than tab and newline are an error (Ollama drops them
  silently from arguments); non-ASCII text is kept as it is.
* An instruction with no argument at all (`SYSTEM` alone, or `SYSTEM` followed only by
  blanks) is an error; write `SYSTEM ""` for an empty value.
* Blank runs between `PARAMETER`/`MESSAGE` and the name/role are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from corral.errors import ModelfileError

__all__ = [
    "COMMANDS",
    "MAX_MODELFILE_BYTES",
    "ROLES",
    "Instruction",
    "decode",
    "has_unquotable_line",
    "parse_instructions",
    "quote",
    "show",
]

COMMANDS = (
    "from",
    "license",
    "template",
    "system",
    "adapter",
    "draft",
    "renderer",
    "parser",
    "parameter",
    "message",
    "requires",
)
"""Instruction names in the order Ollama lists them in its error message."""

MAX_MODELFILE_BYTES = 16 * 1024 * 1024
"""Largest Modelfile accepted (security catalogue C8: a 100 MB SYSTEM is refused)."""

ROLES = ("system", "user", "assistant")
"""The MESSAGE roles Ollama accepts (exactly these, lower-case)."""

_COMMAND_LIST = ", ".join(f'"{c}"' for c in COMMANDS[:-1]) + f', or "{COMMANDS[-1]}"'
_NAME_RE = re.compile(r"[A-Za-z]*")
_PARAM_RE = re.compile(r"[A-Za-z0-9_]*")
_BLANK_RE = re.compile(r"[ \t]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NEEDS = {
    "from": "a model name or path",
    "adapter": "a path",
    "draft": "a path",
    "renderer": "a renderer name",
    "parser": "a parser name",
    "requires": "a version",
    "license": "a value",
    "template": "a value",
    "system": "a value",
    "parameter": "a name and a value",
    "message": "a role and content",
}


@dataclass(frozen=True)
class Instruction:
    """One instruction as written: lower-case `name`, unquoted `args`, 1-based `line`.

    For `parameter` and `message`, `key` holds the parameter name or the role and
    `args` the value or content; for the others `key` is empty.
    """

    name: str
    args: str
    line: int
    key: str = ""


def show(text: str, limit: int = 40) -> str:
    """A value for an error message: JSON-quoted, cut to `limit` characters."""
    return json.dumps(text if len(text) <= limit else text[:limit] + "…", ensure_ascii=False)


def decode(data: str | bytes, *, source: str = "Modelfile") -> str:
    """Decode Modelfile input to text with `\\n` line ends.

    Raises:
        ModelfileError: too large, not valid UTF-8/UTF-16, or holds a control character.
    """
    if len(data) > MAX_MODELFILE_BYTES:
        raise ModelfileError(
            f"Modelfile is {len(data)} bytes, over the {MAX_MODELFILE_BYTES}-byte limit",
            source=source,
        )
    if isinstance(data, bytes):
        text = _decode_bytes(data, source)
    else:
        text = data[1:] if data.startswith("\ufeff") else data
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = _CONTROL_RE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise ModelfileError(
            f"invalid control character U+{ord(bad.group()):04X}", line=line, source=source
        )
    return text


def _decode_bytes(data: bytes, source: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        encoding, body = "utf-8", data[3:]
    elif data.startswith(b"\xff\xfe"):
        encoding, body = "utf-16-le", data[2:]
    elif data.startswith(b"\xfe\xff"):
        encoding, body = "utf-16-be", data[2:]
    else:
        encoding, body = "utf-8", data
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        before = body[: exc.start].decode(encoding, errors="replace")
        line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
        label = "UTF-8" if encoding == "utf-8" else "UTF-16"
        raise ModelfileError(
            f"Modelfile is not valid {label}: {exc.reason} at byte {exc.start}",
            line=line,
            source=source,
        ) from None


def parse_instructions(text: str, *, source: str = "Modelfile") -> list[Instruction]:
    """Scan decoded Modelfile text into instructions (no FROM or parameter checks).

    Raises:
        ModelfileError: an unknown instruction, a missing argument, a malformed
            parameter name or role, or an unterminated quote (at its first line).
    """
    lines = text.split("\n")
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        lineno = i + 1
        stripped = lines[i].lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        name_end = _NAME_RE.match(stripped)
        assert name_end is not None
        word = stripped[: name_end.end()]
        rest = stripped[name_end.end() :]
        if not word or (rest and rest[0] not in " \t") or word.lower() not in COMMANDS:
            token = _BLANK_RE.split(stripped, maxsplit=1)[0]
            raise ModelfileError(
                f"unknown instruction {show(token)}: command must be one of {_COMMAND_LIST}",
                line=lineno,
                source=source,
            )
        name = word.lower()
        value = rest[1:]
        key = ""
        if name in ("parameter", "message"):
            key, value = _split_key(name, value, lineno, source)
        args, quoted, i = _read_value(lines, i, value, lineno, source)
        if not args and not quoted:
            raise ModelfileError(
                f"missing argument: {name.upper()} needs {_NEEDS[name]}", line=lineno, source=source
            )
        out.append(Instruction(name, args, lineno, key))
        i += 1
    return out


def _split_key(name: str, value: str, lineno: int, source: str) -> tuple[str, str]:
    """Split `<param name|role> <rest>` off a PARAMETER or MESSAGE argument."""
    value = value.lstrip(" \t")
    pattern = _PARAM_RE if name == "parameter" else _NAME_RE
    match = pattern.match(value)
    assert match is not None
    key, rest = value[: match.end()], value[match.end() :]
    if not key and not rest.strip():
        raise ModelfileError(
            f"missing argument: {name.upper()} needs {_NEEDS[name]}", line=lineno, source=source
        )
    if not key or (rest and rest[0] not in " \t"):
        token = _BLANK_RE.split(value, maxsplit=1)[0]
        if name == "parameter":
            msg = f"invalid parameter name {show(token)}: use letters, digits and _"
        else:
            msg = (
                f"invalid message role {show(token)}: the message role must be one of "
                '"system", "user", or "assistant"'
            )
        raise ModelfileError(msg, line=lineno, source=source)
    if name == "message" and key not in ROLES:
        raise ModelfileError(
            f"invalid message role {show(key)}: the message role must be one of "
            '"system", "user", or "assistant"',
            line=lineno,
            source=source,
        )
    if not rest.strip():
        needs = "a value" if name == "parameter" else "content"
        raise ModelfileError(
            f"missing argument: {name.upper()} {key} needs {needs}", line=lineno, source=source
        )
    return key, rest[1:]


def _read_value(
    lines: list[str], i: int, first: str, lineno: int, source: str
) -> tuple[str, bool, int]:
    """Read an argument starting with `first` on line `i`: (text, was quoted, last line)."""
    s = first.strip()
    if s.startswith('"""'):
        if len(s) >= 6 and s.endswith('"""'):
            return s[3:-3], True, i
        mark = '"""'
    elif s.startswith('"'):
        if len(s) >= 2 and s.endswith('"'):
            return s[1:-1], True, i
        mark = '"'
    else:
        return s, False, i
    j = i + 1
    while j < len(lines) and not lines[j].rstrip().endswith(mark):
        j += 1
    if j >= len(lines):
        raise ModelfileError(
            f"unterminated {mark} string: unexpected EOF before the closing {mark}",
            line=lineno,
            source=source,
        )
    body = "\n".join([first, *lines[i + 1 : j + 1]]).strip()
    return body[len(mark) : -len(mark)], True, j


def has_unquotable_line(text: str) -> bool:
    """True when `text` needs `\"\"\"` quoting but a line ends with `\"\"\"` (not representable)."""
    return any(part.rstrip().endswith('"""') for part in text.split("\n")[:-1])


def quote(text: str, *, strict: bool = True, what: str = "value") -> str:
    """Quote an argument so that the scanner reads back exactly `text`.

    Ollama's rule (`parser.quote`): text with a newline or leading/trailing blanks
    is quoted, with `\"\"\"` when it holds a `"`; else it is written bare. corral
    also quotes empty text and text starting with `"`, which Ollama's rule would
    mangle. Text that cannot be written at all — a `\"\"\"` right before a line
    break inside `\"\"\"…\"\"\"`, or a control character — raises when `strict`, and
    is written Ollama's way otherwise.

    Raises:
        ModelfileError: `strict` and the text cannot be represented (`what` names it).
    """
    if strict:
        bad = _CONTROL_RE.search(text)
        if bad is not None:
            raise ModelfileError(
                f"cannot write {what}: it holds control character U+{ord(bad.group()):04X}"
            )
    if text and "\n" not in text and text == text.strip() and not text.startswith('"'):
        return text
    if '"' not in text:
        return f'"{text}"'
    if strict and has_unquotable_line(text):
        raise ModelfileError(
            f'cannot write {what}: a line ends with """, which a Modelfile cannot quote'
        )
    return f'"""{text}"""'

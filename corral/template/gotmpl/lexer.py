"""Lexer for Go `text/template` source: turns template text into a list of tokens.

It follows Go's `text/template/parse/lex.go` (Go 1.24): `{{`/`}}` delimiters, `{{- ` and ` -}}`
trim markers (a `-` next to the delimiter plus one space, tab or newline), `{{/* */}}` comments,
newlines inside actions, and the same token kinds and error messages. The whole input is lexed up
front; a lexing error becomes a final `ERROR` token that the parser reports when it gets there.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum, auto

__all__ = ["KEYWORDS", "Kind", "Token", "format_rune", "go_quote_prefix", "lex"]

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
SPACE_CHARS = " \t\r\n"
TRIM_MARKER = "-"
TRIM_MARKER_LEN = 2


class Kind(Enum):
    """Token kinds; the ones after `KEYWORD` are keywords, as in Go."""

    ERROR = auto()
    BOOL = auto()
    CHAR = auto()
    CHAR_CONSTANT = auto()
    COMPLEX = auto()
    ASSIGN = auto()
    DECLARE = auto()
    EOF = auto()
    FIELD = auto()
    IDENTIFIER = auto()
    LEFT_DELIM = auto()
    LEFT_PAREN = auto()
    NUMBER = auto()
    PIPE = auto()
    RAW_STRING = auto()
    RIGHT_DELIM = auto()
    RIGHT_PAREN = auto()
    SPACE = auto()
    STRING = auto()
    TEXT = auto()
    VARIABLE = auto()
    KEYWORD = auto()
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DOT = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    NIL = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()

    @property
    def is_keyword(self) -> bool:
        return self.value > Kind.KEYWORD.value


KEYWORDS: dict[str, Kind] = {
    ".": Kind.DOT,
    "block": Kind.BLOCK,
    "break": Kind.BREAK,
    "continue": Kind.CONTINUE,
    "define": Kind.DEFINE,
    "else": Kind.ELSE,
    "end": Kind.END,
    "if": Kind.IF,
    "range": Kind.RANGE,
    "nil": Kind.NIL,
    "template": Kind.TEMPLATE,
    "with": Kind.WITH,
}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical item: its kind, its offset in the source and its text."""

    kind: Kind
    pos: int
    val: str

    def __str__(self) -> str:
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.ERROR:
            return self.val
        if self.kind.is_keyword:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote_prefix(self.val, 10) + "..."
        return go_quote_prefix(self.val, len(self.val))


def go_quote_prefix(text: str, runes: int) -> str:
    """Go's `%.Nq`: the first `runes` characters of `text`, double-quoted with Go escapes."""
    # Imported lazily: fmt imports nothing from here, but keeping the lexer free of it is tidier.
    from corral.template.gotmpl.fmt import go_quote

    return go_quote(text[:runes])


def format_rune(ch: str) -> str:
    """Go's `%#U`: `U+0041 'A'` for printable characters, `U+000A` otherwise."""
    code = f"U+{ord(ch):04X}"
    return f"{code} '{ch}'" if ch.isprintable() else code


def _is_space(ch: str) -> bool:
    return ch in SPACE_CHARS and ch != ""


def _is_alnum(ch: str) -> bool:
    if ch == "":
        return False
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


def _has_left_trim(s: str, i: int) -> bool:
    return s.startswith(TRIM_MARKER, i) and i + 1 < len(s) and _is_space(s[i + 1])


def _has_right_trim(s: str, i: int) -> bool:
    return i + 1 < len(s) and _is_space(s[i]) and s[i + 1] == TRIM_MARKER


class _LexError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.tokens: list[Token] = []

    # -- helpers ------------------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def emit(self, kind: Kind) -> None:
        self.tokens.append(Token(kind, self.start, self.text[self.start : self.pos]))
        self.start = self.pos

    def error(self, message: str) -> _LexError:
        return _LexError(self.start, message)

    def accept(self, valid: str) -> bool:
        ch = self.peek()
        if ch and ch in valid:
            self.pos += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim(self.text, self.pos) and self.text.startswith(
            RIGHT_DELIM, self.pos + TRIM_MARKER_LEN
        ):
            return True, True
        return self.text.startswith(RIGHT_DELIM, self.pos), False

    def at_terminator(self) -> bool:
        ch = self.peek()
        if ch == "" or _is_space(ch) or ch in ".,|:)(":
            return True
        return self.text.startswith(RIGHT_DELIM, self.pos)

    # -- states -------------------------------------------------------------------------------
    def run(self) -> list[Token]:
        try:
            self.lex_text()
        except _LexError as exc:
            self.tokens.append(Token(Kind.ERROR, exc.pos, exc.message))
        return self.tokens

    def lex_text(self) -> None:
        text = self.text
        while True:
            x = text.find(LEFT_DELIM, self.start)
            if x < 0:
                self.pos = len(text)
                if self.pos > self.start:
                    self.emit(Kind.TEXT)
                self.emit(Kind.EOF)
                return
            chunk = text[self.start : x]
            if chunk and _has_left_trim(text, x + len(LEFT_DELIM)):
                chunk = chunk.rstrip(SPACE_CHARS)
            if chunk:
                self.tokens.append(Token(Kind.TEXT, self.start, chunk))
            self.pos = self.start = x
            self.lex_left_delim()

    def lex_left_delim(self) -> None:
        self.pos += len(LEFT_DELIM)
        trim = _has_left_trim(self.text, self.pos)
        after = TRIM_MARKER_LEN if trim else 0
        if self.text.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.start = self.pos
            self.lex_comment()
            return
        self.tokens.append(Token(Kind.LEFT_DELIM, self.start, LEFT_DELIM))
        self.pos += after
        self.start = self.pos
        self.paren_depth = 0
        self.lex_inside_action()

    def lex_comment(self) -> None:
        self.pos += len(LEFT_COMMENT)
        x = self.text.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            raise self.error("unclosed comment")
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            raise self.error("comment ends before closing delimiter")
        if trim:
            self.pos += TRIM_MARKER_LEN
        self.pos += len(RIGHT_DELIM)
        if trim:
            self.pos = self._skip_leading_space(self.pos)
        self.start = self.pos

    def _skip_leading_space(self, i: int) -> int:
        n = len(self.text)
        while i < n and self.text[i] in SPACE_CHARS:
            i += 1
        return i

    def lex_right_delim(self) -> None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += TRIM_MARKER_LEN
            self.start = self.pos
        self.pos += len(RIGHT_DELIM)
        self.emit(Kind.RIGHT_DELIM)
        if trim:
            self.pos = self._skip_leading_space(self.pos)
            self.start = self.pos

    def lex_inside_action(self) -> None:
        while True:
            delim, _ = self.at_right_delim()
            if delim:
                if self.paren_depth == 0:
                    self.lex_right_delim()
                    return
                raise self.error("unclosed left paren")
            ch = self.next()
            if ch == "":
                raise self.error("unclosed action")
            if _is_space(ch):
                self.pos -= 1
                self.lex_space()
            elif ch == "=":
                self.emit(Kind.ASSIGN)
            elif ch == ":":
                if self.next() != "=":
                    raise self.error("expected :=")
                self.emit(Kind.DECLARE)
            elif ch == "|":
                self.emit(Kind.PIPE)
            elif ch == '"':
                self.lex_quote()
            elif ch == "`":
                self.lex_raw_quote()
            elif ch == "$":
                self.lex_variable()
            elif ch == "'":
                self.lex_char()
            elif ch == "." and self.pos < len(self.text) and not ("0" <= self.peek() <= "9"):
                self.lex_field_or_variable(Kind.FIELD)
            elif ch in "+-." or "0" <= ch <= "9":
                self.pos -= 1
                self.lex_number()
            elif _is_alnum(ch):
                self.pos -= 1
                self.lex_identifier()
            elif ch == "(":
                self.paren_depth += 1
                self.emit(Kind.LEFT_PAREN)
            elif ch == ")":
                self.paren_depth -= 1
                if self.paren_depth < 0:
                    raise self.error("unexpected right paren")
                self.emit(Kind.RIGHT_PAREN)
            elif ord(ch) < 0x80 and ch.isprintable():
                self.emit(Kind.CHAR)
            else:
                raise self.error(f"unrecognized character in action: {format_rune(ch)}")

    def lex_space(self) -> None:
        spaces = 0
        while _is_space(self.peek()):
            self.pos += 1
            spaces += 1
        # A trim-marked right delimiter starts with a space: leave that space for the marker.
        if _has_right_trim(self.text, self.pos - 1) and self.text.startswith(
            RIGHT_DELIM, self.pos - 1 + TRIM_MARKER_LEN
        ):
            self.pos -= 1
            if spaces == 1:
                return
        self.emit(Kind.SPACE)

    def lex_identifier(self) -> None:
        while _is_alnum(self.peek()):
            self.pos += 1
        word = self.text[self.start : self.pos]
        if not self.at_terminator():
            raise self.error(f"bad character {format_rune(self.peek())}")
        kind = KEYWORDS.get(word)
        if kind is not None and kind is not Kind.DOT:
            self.emit(kind)
        elif word in ("true", "false"):
            self.emit(Kind.BOOL)
        else:
            self.emit(Kind.IDENTIFIER)

    def lex_variable(self) -> None:
        if self.at_terminator():
            self.emit(Kind.VARIABLE)
            return
        self.lex_field_or_variable(Kind.VARIABLE)

    def lex_field_or_variable(self, kind: Kind) -> None:
        if self.at_terminator():
            self.emit(Kind.VARIABLE if kind is Kind.VARIABLE else Kind.DOT)
            return
        while _is_alnum(self.peek()):
            self.pos += 1
        if not self.at_terminator():
            raise self.error(f"bad character {format_rune(self.peek())}")
        self.emit(kind)

    def lex_char(self) -> None:
        while True:
            ch = self.next()
            if ch == "\\":
                ch = self.next()
                if ch not in ("", "\n"):
                    continue
                raise self.error("unterminated character constant")
            if ch in ("", "\n"):
                raise self.error("unterminated character constant")
            if ch == "'":
                break
        self.emit(Kind.CHAR_CONSTANT)

    def lex_number(self) -> None:
        if not self.scan_number():
            raise self.error(f"bad number syntax: {self._quoted_span()}")
        if self.peek() in ("+", "-") and self.peek() != "":
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                raise self.error(f"bad number syntax: {self._quoted_span()}")
            self.emit(Kind.COMPLEX)
        else:
            self.emit(Kind.NUMBER)

    def _quoted_span(self) -> str:
        from corral.template.gotmpl.fmt import go_quote

        return go_quote(self.text[self.start : self.pos])

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.pos += 1
            return False
        return True

    def lex_quote(self) -> None:
        while True:
            ch = self.next()
            if ch == "\\":
                ch = self.next()
                if ch not in ("", "\n"):
                    continue
                raise self.error("unterminated quoted string")
            if ch in ("", "\n"):
                raise self.error("unterminated quoted string")
            if ch == '"':
                break
        self.emit(Kind.STRING)

    def lex_raw_quote(self) -> None:
        x = self.text.find("`", self.pos)
        if x < 0:
            raise self.error("unterminated raw quoted string")
        self.pos = x + 1
        self.emit(Kind.RAW_STRING)


def lex(text: str) -> list[Token]:
    """Tokenise `text`; the list ends with an `EOF` token, or with `ERROR` after a lexing error."""
    return _Lexer(text).run()

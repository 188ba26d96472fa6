"""Bounded, buffered reads of GGUF values from a file object.

`Source` never reads, allocates or loops in proportion to a number it found in the file
until that number has been checked against the bytes that remain and against the limits
in `_format`. Every failure is a `GGUFError` whose one line names the file and what is
wrong with it; nothing else escapes (a mid-read `OSError` included).
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from corral.errors import GGUFError
from corral.gguf._format import (
    MAX_ARRAY_DEPTH,
    MAX_ARRAY_LENGTH,
    MAX_KEPT_ARRAY,
    MAX_KEPT_ELEMENTS,
    MAX_KEPT_STRING_BYTES,
    MAX_LOADED_ARRAY,
    MAX_NESTED_ARRAY,
    MAX_STRING_LENGTH,
    MAX_WALKED_ARRAY,
    MAX_WALKED_ELEMENTS,
    NESTED_ARRAY_COST,
    TOKEN_CHECKPOINT_STRIDE,
    VALUE_SIZES,
    VALUE_TYPE_NAMES,
    ArraySummary,
    ValueType,
)

__all__ = ["Source", "opened", "show"]

_CHUNK = 1 << 20


def show(text: str, limit: int = 80) -> str:
    """Quote a name found in a file for a one-line message (printable, bounded)."""
    if len(text) <= limit and text.isprintable() and '"' not in text:
        return f'"{text}"'
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


class Source:
    """Reads GGUF primitives from `f`, a file of `size` bytes named `label` in messages."""

    def __init__(self, f: BinaryIO, size: int, label: str) -> None:
        self._f = f
        self.size = size
        self.label = label
        self._buf = b""
        self._base = 0  # file offset of _buf[0]
        self._pos = 0  # read position inside _buf
        self.big_endian = False
        self._set_structs("<")
        self.walk_budget = MAX_WALKED_ELEMENTS
        self.keep_elements = MAX_KEPT_ELEMENTS
        self.keep_bytes = MAX_KEPT_STRING_BYTES

    def _set_structs(self, order: str) -> None:
        self._order = order
        self._u32 = struct.Struct(order + "I")
        self._u64 = struct.Struct(order + "Q")

    def use_big_endian(self) -> None:
        """Read every later number as big-endian (a byte-swapped GGUF)."""
        self.big_endian = True
        self._set_structs(">")

    # --- errors -------------------------------------------------------------------------

    def invalid(self, what: str) -> GGUFError:
        return GGUFError(f"{self.label} is invalid: {what}")

    def truncated(self, what: str, need: int, verb: str = "needs") -> GGUFError:
        return GGUFError(
            f"{self.label} is truncated: {what} {verb} {need} bytes but {self.remaining()} remain"
        )

    # --- positioning --------------------------------------------------------------------

    def tell(self) -> int:
        return self._base + self._pos

    def remaining(self) -> int:
        return max(self.size - self.tell(), 0)

    def seek(self, offset: int) -> None:
        self._buf = b""
        self._base = offset
        self._pos = 0
        try:
            self._f.seek(offset)
        except (OSError, ValueError, OverflowError) as exc:
            raise GGUFError(f"{self.label} cannot be read: {exc}") from None

    def _read(self, n: int) -> bytes:
        try:
            return self._f.read(n)
        except OSError as exc:
            raise GGUFError(f"{self.label} cannot be read: {exc.strerror or exc}") from None

    def take(self, n: int, what: str, verb: str = "needs") -> bytes:
        """Return the next `n` bytes, or raise if fewer than `n` remain."""
        if n > self.remaining():
            raise self.truncated(what, n, verb)
        end = self._pos + n
        if end <= len(self._buf):
            data = self._buf[self._pos : end]
            self._pos = end
            return data
        rest = self._buf[self._pos :]
        more = self._read(max(n - len(rest), _CHUNK))
        self._base += self._pos
        self._buf = rest + more
        if len(self._buf) < n:  # the file shrank under us
            self.size = self._base + len(self._buf)
            raise self.truncated(what, n, verb)
        self._pos = n
        return self._buf[:n]

    def skip(self, n: int, what: str, verb: str = "needs") -> None:
        """Move past `n` bytes without reading them, or raise if fewer than `n` remain."""
        if n > self.remaining():
            raise self.truncated(what, n, verb)
        if self._pos + n <= len(self._buf):
            self._pos += n
        else:
            self.seek(self.tell() + n)

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        """Read and unpack the struct format `fmt` (without a byte-order prefix)."""
        layout = struct.Struct(self._order + fmt)
        return layout.unpack(self.take(layout.size, what))

    def u32(self, what: str) -> int:
        value: int = self._u32.unpack(self.take(4, what))[0]
        return value

    def u64(self, what: str) -> int:
        value: int = self._u64.unpack(self.take(8, what))[0]
        return value

    # --- strings ------------------------------------------------------------------------

    def raw_string(self, what: str, limit: int = MAX_STRING_LENGTH) -> bytes:
        """Read a length-prefixed string of at most `limit` bytes."""
        n = self.u64(f"the length of {what}")
        if n > limit:
            raise self.invalid(f"{what} is {n} bytes long, over the {limit}-byte limit")
        return self.take(n, what, "claims")

    def text(self, what: str, limit: int = MAX_STRING_LENGTH) -> str:
        """Read a string value; undecodable bytes become U+FFFD, as in gguf-py."""
        raw = self.raw_string(what, limit)
        self.keep_bytes -= len(raw)
        if self.keep_bytes < 0:
            raise self.invalid(f"its strings exceed {MAX_KEPT_STRING_BYTES} bytes in all")
        return raw.decode("utf-8", errors="replace")

    def name(self, what: str, limit: int) -> str:
        """Read a key or tensor name, which must be valid UTF-8."""
        raw = self.raw_string(what, limit)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.invalid(f"{what} is not valid UTF-8 ({raw[:40]!r})") from None

    # --- values -------------------------------------------------------------------------

    def value(self, vtype: int, what: str, depth: int = 0) -> Any:
        """Read one metadata value of type `vtype`."""
        fixed = VALUE_SIZES.get(vtype)
        if fixed is not None:
            fmt, size = fixed
            (value,) = struct.unpack(self._order + fmt, self.take(size, what))
            return self._check_bool(value, what) if vtype == ValueType.BOOL else value
        if vtype == ValueType.STRING:
            return self.text(what)
        if vtype == ValueType.ARRAY:
            return self.array(what, depth + 1)
        raise self.invalid(f"{what} has unknown value type {vtype}")

    def _check_bool(self, value: int, what: str) -> bool:
        if value > 1:
            raise self.invalid(f"{what} is a bool holding {value}, not 0 or 1")
        return bool(value)

    def array(self, what: str, depth: int, keep: bool = True) -> list[Any] | ArraySummary:
        """Read an array header and its elements; long arrays become an `ArraySummary`."""
        if depth > MAX_ARRAY_DEPTH:
            raise self.invalid(f"{what} nests arrays more than {MAX_ARRAY_DEPTH} deep")
        etype = self.u32(f"the element type of {what}")
        if etype not in VALUE_TYPE_NAMES:
            raise self.invalid(f"{what} is an array of unknown value type {etype}")
        count = self.u64(f"the length of {what}")
        kind = VALUE_TYPE_NAMES[etype]
        fixed = VALUE_SIZES.get(etype)
        if fixed is not None:
            limit, min_size, cost = MAX_ARRAY_LENGTH, fixed[1], 0
        elif etype == ValueType.STRING:
            limit, min_size, cost = MAX_WALKED_ARRAY, 8, 1
        else:
            limit, min_size, cost = MAX_NESTED_ARRAY, 12, NESTED_ARRAY_COST
        if count > limit:
            raise self.invalid(f"{what} has {count} {kind} elements, over the limit of {limit}")
        if count * min_size > self.remaining():
            raise self.truncated(f"{what} ({count} {kind} elements)", count * min_size, "claims")
        if cost:
            self.walk_budget -= count * cost
            if self.walk_budget < 0:
                raise self.invalid(
                    f"its string and nested arrays exceed the reader's budget of"
                    f" {MAX_WALKED_ELEMENTS} elements"
                )
        offset = self.tell()
        if keep and count <= MAX_KEPT_ARRAY and count <= self.keep_elements:
            self.keep_elements -= count
            return self._elements(etype, count, what, depth)
        if fixed is not None:
            self.skip(count * fixed[1], what)
            return ArraySummary(etype, count, offset)
        if etype == ValueType.STRING:
            return ArraySummary(etype, count, offset, self._walk_strings(count, what))
        for i in range(count):
            self.array(f"element {i} of {what}", depth + 1, keep=False)
        return ArraySummary(etype, count, offset)

    def _elements(self, etype: int, count: int, what: str, depth: int) -> list[Any]:
        fixed = VALUE_SIZES.get(etype)
        if fixed is None:
            return [self.value(etype, f"element {i} of {what}", depth) for i in range(count)]
        fmt, size = fixed
        values = list(struct.unpack(f"{self._order}{count}{fmt}", self.take(count * size, what)))
        if etype == ValueType.BOOL:
            return [self._check_bool(v, f"element {i} of {what}") for i, v in enumerate(values)]
        return values

    def _walk_strings(self, count: int, what: str) -> tuple[int, ...]:
        """Move past `count` strings, remembering the offset of every stride-th one.

        Strings are walked a checkpoint block at a time, straight on the buffer; an
        element that crosses the buffer's end goes through `take`/`skip`, which
        refill the buffer or raise.
        """
        checkpoints: list[int] = []
        stride = TOKEN_CHECKPOINT_STRIDE
        i = 0
        while i < count:
            if i % stride == 0:
                checkpoints.append(self.tell())
            stop = min(count, (i // stride + 1) * stride)
            i = self._skip_buffered_strings(i, stop)
            if i < stop:
                item = f"element {i} of {what}"
                n = self.u64(f"the length of {item}")
                if n > MAX_STRING_LENGTH:
                    raise self.invalid(
                        f"{item} is {n} bytes long, over the {MAX_STRING_LENGTH}-byte limit"
                    )
                self.skip(n, item, "claims")
                i += 1
        return tuple(checkpoints)

    def _skip_buffered_strings(self, first: int, stop: int) -> int:
        """Skip strings `first`..`stop-1` that lie wholly in the buffer; return where it stopped."""
        unpack = self._u64.unpack_from
        buf, pos = self._buf, self._pos
        end = len(buf)
        reached = stop
        for index in range(first, stop):
            if pos + 8 > end:
                reached = index
                break
            n = unpack(buf, pos)[0]
            after = pos + 8 + n
            if after > end or n > MAX_STRING_LENGTH:
                reached = index
                break
            pos = after
        self._pos = pos
        return reached

    # --- going back to a summarised array -----------------------------------------------

    def string_at(self, summary: ArraySummary, index: int, what: str) -> str:
        """Return element `index` of a summarised string array."""
        if not 0 <= index < summary.length:
            raise IndexError(index)
        if summary.element_type != ValueType.STRING:
            raise self.invalid(f"{what} is an array of {summary.type_name}, not of strings")
        block, step = divmod(index, TOKEN_CHECKPOINT_STRIDE)
        if block >= len(summary.checkpoints):
            raise self.invalid(f"{what} was summarised without checkpoints")
        self.seek(summary.checkpoints[block])
        for j in range(step):
            item = f"element {index - step + j} of {what}"
            self.skip(self.u64(f"the length of {item}"), item, "claims")
        raw = self.raw_string(f"element {index} of {what}")
        return raw.decode("utf-8", errors="replace")

    def load(self, summary: ArraySummary, what: str) -> list[Any]:
        """Read every element of a summarised array, within `MAX_LOADED_ARRAY` elements."""
        if summary.length > MAX_LOADED_ARRAY:
            raise self.invalid(
                f"{what} has {summary.length} elements, too many to load"
                f" (the limit is {MAX_LOADED_ARRAY})"
            )
        self.seek(summary.offset)
        self.keep_bytes = 2 * MAX_KEPT_STRING_BYTES
        self.keep_elements = MAX_LOADED_ARRAY
        self.walk_budget = MAX_WALKED_ELEMENTS
        return self._elements(summary.element_type, summary.length, what, 1)


@contextmanager
def opened(path: Path) -> Iterator[Source]:
    """Open `path` for reading as a `Source`, refusing anything but a regular file.

    The file is opened non-blocking so that a FIFO or device cannot stall the caller
    before it is refused. Messages name the file by its base name only, so errors sent
    to API clients do not disclose where the daemon keeps its files.
    """
    label = show(path.name or str(path))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise GGUFError(f"{label} does not exist") from None
    except IsADirectoryError:
        raise GGUFError(f"{label} is a directory, not a GGUF file") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise GGUFError(f"{label} cannot be opened: {reason}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise GGUFError(f"{label} is a directory, not a GGUF file")
        if not stat.S_ISREG(mode):
            raise GGUFError(f"{label} is not a regular file")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield Source(f, os.fstat(fd).st_size, label)

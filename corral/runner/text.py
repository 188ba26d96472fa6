"""Pure text helpers of the runner: UTF-8 piece assembly, stop-sequence holdback, prefix matching.

Nothing here touches llama.cpp, so the generation loop's text logic is tested without a model.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

__all__ = ["PieceAssembler", "StopMatcher", "common_prefix_len"]


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Return how many leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PieceAssembler:
    """Turns token byte pieces into text without ever splitting a multibyte character.

    A token may end in the middle of a UTF-8 sequence; those bytes are held until the
    character is complete. Bytes that can never form a valid character become U+FFFD;
    a sequence still incomplete when generation ends (cut by a token limit) is dropped.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        """Add a token's bytes; return the text that is now complete (maybe empty)."""
        return self._decoder.decode(data, final=False)

    def flush(self) -> str:
        """End the stream: drop an incomplete trailing sequence, which is no character."""
        self._decoder.reset()
        return ""


class StopMatcher:
    """Cuts generated text at the first stop string and holds back what may start one.

    `feed()` returns the text that is safe to send: it never contains a stop string, and
    a tail that could be the beginning of a stop string stays held until later text
    decides it. After a stop string is found, `stopped` is true and the rest is dropped.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add generated text; return the part that can be emitted now."""
        if self.stopped:
            return ""
        if not self._stops:
            return text
        buf = self._held + text
        cut = -1
        for stop in self._stops:
            i = buf.find(stop)
            if i != -1 and (cut == -1 or i < cut):
                cut = i
        if cut != -1:
            self.stopped = True
            self._held = ""
            return buf[:cut]
        keep = self._partial_tail(buf)
        self._held = buf[len(buf) - keep :]
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        """Return the held text at the end of generation (it turned out not to be a stop)."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _partial_tail(self, buf: str) -> int:
        """Length of the longest suffix of `buf` that is a proper prefix of some stop string."""
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(buf)), best, -1):
                if buf.endswith(stop[:n]):
                    best = n
                    break
        return best

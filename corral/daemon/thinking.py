"""Separating a model's thinking from its answer, as Ollama's `thinking.Parser` does.

The tags come from the template (`corral.template.thinking_tags`), `<think>`/`</think>`
for a Jinja template. Output that opens (after whitespace) with the opening tag is
thinking until the closing tag; everything after it, leading whitespace dropped, is the
answer. When the rendered prompt already ends with the opening tag the model starts
inside the thinking. Output that does not open with the tag is all answer.
"""

from __future__ import annotations

__all__ = ["ThinkingParser"]


def _held(text: str, tag: str) -> int:
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ThinkingParser:
    """Feed text with `add`; each call returns `(thinking, content)` safe to send now."""

    def __init__(self, opening: str, closing: str, *, started: bool = False) -> None:
        self.opening = opening
        self.closing = closing
        self._state = "thinking" if started else "opening"
        self._buffer = ""

    def add(self, text: str) -> tuple[str, str]:
        self._buffer += text
        thinking = content = ""
        if self._state == "opening":
            stripped = self._buffer.lstrip()
            if stripped.startswith(self.opening):
                self._buffer = stripped[len(self.opening) :]
                self._state = "thinking"
            elif stripped and not self.opening.startswith(stripped):
                self._state = "content"
            else:
                return "", ""
        if self._state == "thinking":
            at = self._buffer.find(self.closing)
            if at < 0:
                keep = _held(self._buffer, self.closing)
                thinking = self._buffer[: len(self._buffer) - keep]
                self._buffer = self._buffer[len(thinking) :]
                return thinking, ""
            thinking = self._buffer[:at]
            self._buffer = self._buffer[at + len(self.closing) :]
            self._state = "after"
        if self._state == "after":
            self._buffer = self._buffer.lstrip()
            if not self._buffer:
                return thinking, ""
            self._state = "content"
        content, self._buffer = self._buffer, ""
        return thinking, content

    def finish(self) -> tuple[str, str]:
        """Whatever is still held back, as thinking or content by the current state."""
        rest, self._buffer = self._buffer, ""
        if self._state == "thinking":
            return rest, ""
        return "", rest if self._state != "after" else rest.lstrip()

"""A model's streamed text turned into what a chat answer carries: content, thinking, tool calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.daemon.thinking import ThinkingParser
from corral.daemon.toolcalls import ToolCallParser

__all__ = ["Delta", "OutputParser"]


@dataclass(slots=True)
class Delta:
    """What one piece of output adds to the answer."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class OutputParser:
    """Thinking is split off first, then tool calls are read from what remains.

    Args:
        think_tags: the opening and closing thinking tags, or None not to look for thinking.
        think_started: the prompt already opened the thinking block.
        tool_tag: the text that opens a tool call (see `tool_call_tag`), or None without tools.
        tools: the tools the request declared.
        prefill: the content of a last assistant message the model continues; when it
            opened a tool call, the model's output completes that call.
    """

    def __init__(
        self,
        *,
        think_tags: tuple[str, str] | None = None,
        think_started: bool = False,
        tool_tag: str | None = None,
        tools: Sequence[Mapping[str, Any]] = (),
        prefill: str = "",
    ) -> None:
        self._thinking = ThinkingParser(*think_tags, started=think_started) if think_tags else None
        self._tools = ToolCallParser(tool_tag, tools) if tool_tag and tools else None
        if self._tools is not None and prefill:
            self._tools.add(prefill)  # the client has this text already: nothing to send

    @property
    def passthrough(self) -> bool:
        """Whether every piece is content as it stands (no thinking, no tool calls)."""
        return self._thinking is None and self._tools is None

    def feed(self, text: str) -> Delta:
        thinking, content = self._thinking.add(text) if self._thinking else ("", text)
        return self._content(thinking, content, final=False)

    def finish(self) -> Delta:
        thinking, content = self._thinking.finish() if self._thinking else ("", "")
        return self._content(thinking, content, final=True)

    def _content(self, thinking: str, content: str, *, final: bool) -> Delta:
        if self._tools is None:
            return Delta(content=content, thinking=thinking)
        calls, shown = self._tools.add(content) if content else ([], "")
        if final:
            more_calls, more = self._tools.finish()
            calls, shown = calls + more_calls, shown + more
        return Delta(content=shown, thinking=thinking, tool_calls=calls)

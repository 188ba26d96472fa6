"""Tool calls in a model's output: the tag a template uses, and a streaming parser.

As in Ollama (`tools/`), the tag that starts a tool call is read from the template: the
first text inside its `{{ if .ToolCalls }}` block, cut before any `{` (`<tool_call>` for
Hermes/Qwen, `[TOOL_CALLS]` for Mistral, `Action: ```json` for Command R); a template with no such
text gives `{`, meaning a bare JSON object that opens the answer is a call. After the tag
the parser reads JSON values: an object with `name` (or `function.name`, `tool_name`) and
`arguments` (or `parameters`), or an array of them. Closing tags, repeated opening tags and
code fences between calls are skipped.

A call naming a tool the request did not declare is not returned as a call: its JSON stays
in the message content as the model wrote it.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from corral.template import parse_template
from corral.template.gotmpl.nodes import BranchNode, FieldNode, IfNode, ListNode, Node, TextNode

__all__ = ["ToolCallParser", "new_call_id", "tool_call_tag"]

_ID_ALPHABET = string.ascii_lowercase + string.digits
_SKIP = re.compile(r"\s+|</[^<>\s]{1,40}>|```(?:json)?")


def new_call_id() -> str:
    """`call_` and eight random `[a-z0-9]`, as Ollama's ids look."""
    return "call_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def _walk(node: Node | None) -> Iterable[Node]:
    if node is None:
        return
    yield node
    if isinstance(node, ListNode):
        for child in node.nodes:
            yield from _walk(child)
    elif isinstance(node, BranchNode):
        yield from _walk(node.list)
        yield from _walk(node.else_list)


def _is_tool_calls_if(node: Node) -> bool:
    if not isinstance(node, IfNode) or node.pipe is None:
        return False
    return any(
        isinstance(arg, FieldNode) and "ToolCalls" in arg.idents
        for cmd in node.pipe.cmds
        for arg in cmd.args
    )


def tool_call_tag(template_text: str | None, jinja_text: str | None = None) -> str:
    """The text that opens a tool call in this model's output (`{` when there is none)."""
    if template_text is None:
        for tag in ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"):
            if jinja_text and tag in jinja_text:
                return tag
        return "{"
    root = parse_template(template_text).template.root
    block = next((n for n in _walk(root) if _is_tool_calls_if(n)), None)
    if not isinstance(block, IfNode):
        return "{"
    text = next((n for n in _walk(block.list) if isinstance(n, TextNode)), None)
    if not isinstance(text, TextNode):
        return "{"
    tag = text.text.replace("\r\n", "\n").split("{", 1)[0].strip()
    if len(tag) > 1 and tag.endswith("["):
        # `[TOOL_CALLS] [{...}]`: the array is part of the calls, not of the tag.
        tag = tag[:-1].rstrip()
    return tag or "{"


def _json_end(text: str) -> int | None:
    """The end of the balanced JSON object or array that `text` starts with; None if incomplete."""
    depth = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that could begin `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ToolCallParser:
    """Splits streamed output into content and tool calls (see the module docstring)."""

    def __init__(self, tag: str, tools: Sequence[Mapping[str, Any]]) -> None:
        self.tag = tag
        self.names = {
            str(t.get("function", {}).get("name", "")) for t in tools if isinstance(t, Mapping)
        } - {""}
        self._buffer = ""
        self._state = "looking"  # looking → calling → done
        self._seen_text = False
        self._index = 0
        self.calls: list[dict[str, Any]] = []
        """Every call returned so far."""

    def add(self, text: str) -> tuple[list[dict[str, Any]], str]:
        """Feed output text; returns the calls completed by it and the content to show."""
        if self._state == "done":
            return [], text
        self._buffer += text
        content = ""
        if self._state == "looking":
            content = self._look()
            if self._state != "calling":
                return [], content
        calls, more = self._parse()
        return calls, content + more

    def finish(self) -> tuple[list[dict[str, Any]], str]:
        """The end of the output: whatever is still held back is content."""
        calls, content = self.add("") if self._state == "calling" else ([], "")
        content += self._buffer
        self._buffer = ""
        self._state = "done"
        return calls, content

    def _look(self) -> str:
        bare = self.tag in ("{", "[")
        at = self._buffer.find(self.tag)
        before = self._buffer if at < 0 else self._buffer[:at]
        if bare and (before.strip() or self._seen_text):
            # Bare JSON counts as a call only when it opens the answer.
            self._state = "done"
            out, self._buffer = self._buffer, ""
            return out
        if at < 0:
            keep = 0 if bare else _partial_suffix(self._buffer, self.tag)
            out = self._buffer[: len(self._buffer) - keep]
            self._buffer = self._buffer[len(out) :]
            if out.strip():
                self._seen_text = True
            return "" if bare else out
        self._buffer = self._buffer[at:] if bare else self._buffer[at + len(self.tag) :]
        self._state = "calling"
        return "" if bare else before

    def _parse(self) -> tuple[list[dict[str, Any]], str]:
        calls: list[dict[str, Any]] = []
        content = ""
        while True:
            skip = _SKIP.match(self._buffer)
            if skip and skip.end() > 0:
                self._buffer = self._buffer[skip.end() :]
                continue
            if self.tag not in ("{", "[") and self._buffer.startswith(self.tag):
                self._buffer = self._buffer[len(self.tag) :]
                continue
            if not self._buffer:
                return calls, content
            if self._buffer[0] not in "{[":
                # Could be the start of a closing tag or fence still arriving.
                if len(self._buffer) < 12 and self._buffer[0] in "<`":
                    return calls, content
                self._state = "done"
                content += self._buffer
                self._buffer = ""
                return calls, content
            end = _json_end(self._buffer)
            if end is None:
                return calls, content
            raw, self._buffer = self._buffer[:end], self._buffer[end:]
            found, rejected = self._calls(raw)
            calls += found
            if rejected:
                content += raw

    def _calls(self, raw: str) -> tuple[list[dict[str, Any]], bool]:
        try:
            value = json.loads(raw)
        except ValueError:
            return [], True
        items = value if isinstance(value, list) else [value]
        calls = []
        for item in items:
            call = self._call(item)
            if call is None:
                return [], True
            calls.append(call)
        for call in calls:
            call["function"]["index"] = self._index
            self._index += 1
            self.calls.append(call)
        return calls, False

    def _call(self, item: Any) -> dict[str, Any] | None:
        if not isinstance(item, Mapping):
            return None
        function = item.get("function")
        source = function if isinstance(function, Mapping) else item
        name = source.get("name", item.get("tool_name"))
        args = source.get("arguments", source.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                return None
        if not isinstance(name, str) or name not in self.names or not isinstance(args, dict):
            return None
        return {"id": new_call_id(), "function": {"index": 0, "name": name, "arguments": args}}

"""The values Ollama's prompt templates see: messages, tool calls and tools as Go structs.

Mirrors Ollama's `templateMessage`, `templateToolCall`, `templateTool` and friends
(`template/template.go`, `api/types.go`). Field names are Go's (`.Role`, `.Function.Name`), so
templates written for Ollama read them unchanged. Tools, tool functions, parameters, properties
and tool-call arguments print as their JSON encoding (Go's `encoding/json` output, keys sorted
where Go encodes a map), which is what tool-calling templates splice into prompts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from corral.template.gotmpl import go_json_dumps
from corral.template.gotmpl.gojson import go_json_string

__all__ = [
    "Message",
    "PropertyMap",
    "PropertyType",
    "TemplateMessage",
    "TemplateTool",
    "TemplateToolCall",
    "TemplateToolCallFunction",
    "TemplateToolFunction",
    "TemplateToolParameters",
    "ToolArguments",
    "ToolList",
    "ToolProperty",
    "collate",
    "template_message",
    "template_tool",
]


# -- input messages ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """One chat message as the API receives it (Ollama's `api.Message`)."""

    role: str
    content: str = ""
    thinking: str = ""
    images: tuple[Any, ...] = ()
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    tool_name: str = ""
    tool_call_id: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | Message) -> Message:
        """Read a message in API JSON form (`role`, `content`, `tool_calls`, ...)."""
        if isinstance(data, Message):
            return data
        return cls(
            role=str(data.get("role") or "").lower(),
            content=str(data.get("content") or ""),
            thinking=str(data.get("thinking") or ""),
            images=tuple(data.get("images") or ()),
            tool_calls=tuple(data.get("tool_calls") or ()),
            tool_name=str(data.get("tool_name") or ""),
            tool_call_id=str(data.get("tool_call_id") or ""),
        )


# -- what templates see --------------------------------------------------------------------------
def _is_empty(value: Any) -> bool:
    """Go's `omitempty` test."""
    if value is None or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, str | bytes | list | tuple | Mapping):
        return len(value) == 0
    return False


def _json_object(fields: Iterable[tuple[str, Any, bool]]) -> str:
    parts = [
        go_json_string(name) + ":" + go_json_dumps(value)
        for name, value, omitempty in fields
        if not (omitempty and _is_empty(value))
    ]
    return "{" + ",".join(parts) + "}"


class _PrintsAsJSON:
    """Mixin: the value prints (`{{ . }}`) as its JSON encoding."""

    def go_json(self) -> str:
        raise NotImplementedError

    def go_str(self) -> str:
        return self.go_json()


class ToolArguments(dict[str, Any], _PrintsAsJSON):
    """A tool call's arguments: a map that prints as JSON (`{}` when there are none)."""

    def go_json(self) -> str:
        return go_json_dumps(dict(self))


class PropertyType(tuple[str, ...]):
    """A JSON-schema `type`: one name or several; prints as the name, or `[a b]`."""

    def go_str(self) -> str:
        if not self:
            return ""
        if len(self) == 1:
            return self[0]
        return "[" + " ".join(self) + "]"

    def go_json(self) -> str:
        if len(self) == 1:
            return go_json_string(self[0])
        return go_json_dumps(list(self)) if self else "null"


class PropertyMap(dict[str, "ToolProperty"], _PrintsAsJSON):
    """Tool parameter properties by name; prints as JSON (sorted keys unless `ordered`)."""

    def __init__(self, items: Iterable[tuple[str, ToolProperty]] = (), *, ordered: bool = False):
        super().__init__(items)
        self.ordered = ordered

    def go_json(self) -> str:
        if not self.ordered:
            return go_json_dumps(dict(self))
        parts = [go_json_string(k) + ":" + v.go_json() for k, v in self.items()]
        return "{" + ",".join(parts) + "}"


@dataclass(frozen=True, eq=False)
class ToolProperty(_PrintsAsJSON):
    """One JSON-schema property of a tool parameter (Ollama's `api.ToolProperty`)."""

    AnyOf: tuple[ToolProperty, ...] = ()
    Type: PropertyType = field(default_factory=PropertyType)
    Items: Any = None
    Description: str = ""
    Enum: tuple[Any, ...] = ()
    Properties: PropertyMap | None = None
    Required: tuple[str, ...] = ()

    def go_json(self) -> str:
        return _json_object(
            [
                ("anyOf", list(self.AnyOf), True),
                ("type", self.Type, True),
                ("items", self.Items, True),
                ("description", self.Description, True),
                ("enum", list(self.Enum), True),
                ("properties", self.Properties, True),
                ("required", list(self.Required), True),
            ]
        )

    def typescript_type(self) -> str:
        """Ollama's `ToTypeScriptType`."""
        if self.AnyOf:
            return " | ".join(p.typescript_type() for p in self.AnyOf)
        if not self.Type:
            return "any"
        return " | ".join(_TS_TYPES.get(t, "any") for t in self.Type)


_TS_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "array": "any[]",
    "object": "Record<string, any>",
    "null": "null",
}


@dataclass(frozen=True, eq=False)
class TemplateToolParameters(_PrintsAsJSON):
    Type: str = ""
    Defs: Any = None
    Items: Any = None
    Required: tuple[str, ...] = ()
    Properties: PropertyMap | None = None

    def go_json(self) -> str:
        return _json_object(
            [
                ("type", self.Type, False),
                ("$defs", self.Defs, True),
                ("items", self.Items, True),
                ("required", list(self.Required), True),
                ("properties", self.Properties, False),
            ]
        )


@dataclass(frozen=True, eq=False)
class TemplateToolFunction(_PrintsAsJSON):
    Name: str = ""
    Description: str = ""
    Parameters: TemplateToolParameters = field(default_factory=TemplateToolParameters)

    def go_json(self) -> str:
        return _json_object(
            [
                ("name", self.Name, False),
                ("description", self.Description, False),
                ("parameters", self.Parameters, False),
            ]
        )


@dataclass(frozen=True, eq=False)
class TemplateTool(_PrintsAsJSON):
    Type: str = ""
    Items: Any = None
    Function: TemplateToolFunction = field(default_factory=TemplateToolFunction)

    def go_json(self) -> str:
        return _json_object(
            [
                ("type", self.Type, False),
                ("items", self.Items, True),
                ("function", self.Function, False),
            ]
        )


class ToolList(list[TemplateTool], _PrintsAsJSON):
    """`.Tools`: the request's tools; prints as a JSON array (`null` when none were given)."""

    def __init__(self, tools: Iterable[TemplateTool] = (), *, nil: bool = False) -> None:
        super().__init__(tools)
        self.nil = nil

    def go_json(self) -> str:
        if self.nil and not self:
            return "null"
        return "[" + ",".join(t.go_json() for t in self) + "]"


@dataclass(frozen=True, eq=False)
class TemplateToolCallFunction:
    Index: int = 0
    Name: str = ""
    Arguments: ToolArguments = field(default_factory=ToolArguments)


@dataclass(frozen=True, eq=False)
class TemplateToolCall:
    ID: str = ""
    Function: TemplateToolCallFunction = field(default_factory=TemplateToolCallFunction)


@dataclass(frozen=True, eq=False)
class TemplateMessage:
    """A message as templates see it (Ollama's `templateMessage`)."""

    Role: str = ""
    Content: str = ""
    Thinking: str = ""
    Images: tuple[Any, ...] = ()
    ToolCalls: tuple[TemplateToolCall, ...] = ()
    ToolName: str = ""
    ToolCallID: str = ""

    def go_json(self) -> str:
        """Go encodes the untagged struct by field name; empty slices are nil, so `null`."""
        return _json_object(
            [
                ("Role", self.Role, False),
                ("Content", self.Content, False),
                ("Thinking", self.Thinking, False),
                ("Images", list(self.Images) or None, False),
                ("ToolCalls", list(self.ToolCalls) or None, False),
                ("ToolName", self.ToolName, False),
                ("ToolCallID", self.ToolCallID, False),
            ]
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _property(data: Any) -> ToolProperty:
    data = _mapping(data)
    raw_type = data.get("type")
    if isinstance(raw_type, str):
        types: PropertyType = PropertyType((raw_type,))
    elif isinstance(raw_type, list | tuple):
        types = PropertyType(str(t) for t in raw_type)
    else:
        types = PropertyType()
    nested = data.get("properties")
    return ToolProperty(
        AnyOf=tuple(_property(p) for p in data.get("anyOf") or ()),
        Type=types,
        Items=data.get("items"),
        Description=str(data.get("description") or ""),
        Enum=tuple(data.get("enum") or ()),
        Properties=(
            PropertyMap(((k, _property(v)) for k, v in nested.items()), ordered=True)
            if isinstance(nested, Mapping)
            else None
        ),
        Required=tuple(str(r) for r in data.get("required") or ()),
    )


def template_tool(data: Mapping[str, Any]) -> TemplateTool:
    fn = _mapping(data.get("function"))
    params = _mapping(fn.get("parameters"))
    props = params.get("properties")
    return TemplateTool(
        Type=str(data.get("type") or ""),
        Items=data.get("items"),
        Function=TemplateToolFunction(
            Name=str(fn.get("name") or ""),
            Description=str(fn.get("description") or ""),
            Parameters=TemplateToolParameters(
                Type=str(params.get("type") or ""),
                Defs=params.get("$defs"),
                Items=params.get("items"),
                Required=tuple(str(r) for r in params.get("required") or ()),
                Properties=(
                    PropertyMap((k, _property(v)) for k, v in props.items())
                    if isinstance(props, Mapping)
                    else None
                ),
            ),
        ),
    )


def _tool_call(data: Any) -> TemplateToolCall:
    data = _mapping(data)
    fn = _mapping(data.get("function"))
    index = fn.get("index")
    return TemplateToolCall(
        ID=str(data.get("id") or ""),
        Function=TemplateToolCallFunction(
            Index=index if isinstance(index, int) and not isinstance(index, bool) else 0,
            Name=str(fn.get("name") or ""),
            Arguments=ToolArguments(_mapping(fn.get("arguments"))),
        ),
    )


def template_message(msg: Message) -> TemplateMessage:
    return TemplateMessage(
        Role=msg.role,
        Content=msg.content,
        Thinking=msg.thinking,
        Images=tuple(msg.images),
        ToolCalls=tuple(_tool_call(tc) for tc in msg.tool_calls),
        ToolName=msg.tool_name,
        ToolCallID=msg.tool_call_id,
    )


def collate(messages: Sequence[Message]) -> tuple[str, list[Message]]:
    """Ollama's `collate`: all system contents joined, and same-role runs merged (not tools)."""
    system: list[str] = []
    collated: list[Message] = []
    for msg in messages:
        if msg.role == "system":
            system.append(msg.content)
        if collated and collated[-1].role == msg.role and msg.role != "tool":
            collated[-1] = replace(
                collated[-1], content=collated[-1].content + "\n\n" + msg.content
            )
        else:
            collated.append(msg)
    return "\n\n".join(system), collated

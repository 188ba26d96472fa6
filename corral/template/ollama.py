"""Ollama's prompt rendering on top of the Go template engine (`template/template.go`).

`render_prompt` turns a conversation into the prompt text a Modelfile TEMPLATE produces in Ollama:

* **Fill-in-the-middle**: with a non-empty `prompt` and `suffix` the template runs once with
  `.Prompt`, `.Suffix`, `.Response` (empty) and the think values.
* **Messages mode** (the template reads `.Messages`): consecutive messages of the same role are
  merged with a blank line (tool messages never are) and the template runs once with `.System`
  (every system message, joined with a blank line), `.Messages`, `.Tools`, `.Response` (empty),
  `.Think`, `.ThinkLevel` and `.IsThinkSet`.
* **Legacy mode** (any other template): the template runs once per turn with `.System`,
  `.Prompt` and `.Response`, and the outputs are concatenated. A system message or a user message
  after an answered prompt starts a new turn; the last turn runs on the template cut just after
  its first `{{ .Response }}`, so the model continues from there.

A template that reads neither `.Messages` nor `.Response` gets `{{ .Response }}` appended, as in
Ollama. The values are a Go `map[string]any` with `missingkey=zero`: a key Ollama does not set in
that mode (`.Prompt` in messages mode, say) prints `<no value>` exactly as it does in Ollama, and
is false in `if`. Messages and tools are structs: a field they lack evaluates to `""`.

Messages carry `.Role .Content .Thinking .Images .ToolCalls .ToolName .ToolCallID`; tool calls
`.ID .Function.Index .Function.Name .Function.Arguments`; tools `.Type .Items .Function.Name
.Function.Description .Function.Parameters.{Type,Defs,Items,Required,Properties}`. `.Tools`, each
tool, its `.Function`, `.Parameters`, `.Properties`, each property and `.Arguments` print as JSON.
Template functions: Go's builtins plus `json`, `currentDate`, `yesterdayDate`, `toTypeScriptType`.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from corral.template.gotmpl import (
    Func,
    JSONError,
    Limits,
    Template,
    go_json_dumps,
)
from corral.template.gotmpl.gojson import go_json_string
from corral.template.gotmpl.nodes import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    FieldNode,
    IfNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
    VariableNode,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "Message",
    "OllamaTemplate",
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
    "parse_template",
    "render_prompt",
    "template_variables",
    "thinking_tags",
]

DEFAULT_TEMPLATE = "{{ .Prompt }}"
"""The template of an imported model that brings none."""


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


def _tool(data: Mapping[str, Any]) -> TemplateTool:
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


def _template_message(msg: Message) -> TemplateMessage:
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


# -- template functions --------------------------------------------------------------------------
def _today() -> datetime.date:
    return datetime.date.today()


def _json(value: Any) -> str:
    try:
        return go_json_dumps(value)
    except (JSONError, RecursionError):
        return ""


def _to_typescript_type(value: Any) -> str:
    return value.typescript_type() if isinstance(value, ToolProperty) else "any"


FUNCS: dict[str, Func] = {
    "json": Func(_json, 1, 1),
    "currentDate": Func(lambda *_: _today().isoformat()),
    "yesterdayDate": Func(lambda *_: (_today() - datetime.timedelta(days=1)).isoformat()),
    "toTypeScriptType": Func(_to_typescript_type, 1, 1),
}
"""Ollama's template functions, added to Go's builtins."""


# -- parsing and rendering -----------------------------------------------------------------------
def _response_action(pos: int) -> ActionNode:
    field_node = FieldNode(pos, ("Response",))
    return ActionNode(pos, PipeNode(pos, cmds=[CommandNode(pos, [field_node])]))


@dataclass(frozen=True)
class OllamaTemplate:
    """A Modelfile TEMPLATE parsed the way Ollama parses it (`template.Parse`)."""

    text: str
    template: Template
    vars: frozenset[str]
    """Ollama's `Vars()`: every identifier the template uses, lower-cased (`messages`, `tools`,
    `suffix`, `role`, `$i`, ...). Ollama's capability checks read this: `tools` and `suffix`."""

    @classmethod
    def parse(cls, text: str) -> OllamaTemplate:
        """Parse `text`; `TemplateError` names the line and column of a syntax error."""
        template = Template.parse(text, FUNCS)
        names = frozenset(name.lower() for name in template.identifiers())
        if "messages" not in names and "response" not in names:
            root = template.root
            nodes = [*root.nodes, _response_action(len(text))]
            template = template.with_root(ListNode(root.pos, nodes))
            names |= {"response"}
        return cls(text, template, names)

    @property
    def uses_messages(self) -> bool:
        return "messages" in self.vars

    def render(
        self,
        messages: Sequence[Mapping[str, Any] | Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        think: bool | str | None = None,
        prompt: str = "",
        suffix: str = "",
        limits: Limits | None = None,
    ) -> str:
        """Ollama's `Template.Execute` for these values (see the module docstring)."""
        lim = limits or Limits()
        think_values = _think_values(think)
        if prompt and suffix:
            values = {"Prompt": prompt, "Suffix": suffix, "Response": "", **think_values}
            return self._execute(self.template, values, lim)
        system, collated = collate([Message.from_mapping(m) for m in messages])
        if self.uses_messages:
            values = {
                "System": system,
                "Messages": [_template_message(m) for m in collated],
                "Tools": ToolList((_tool(t) for t in tools or ()), nil=tools is None),
                "Response": "",
                **think_values,
            }
            return self._execute(self.template, values, lim)
        return self._render_legacy(collated, think_values, lim)

    def _execute(
        self, template: Template, values: Mapping[str, Any], limits: Limits, zero: bool = True
    ) -> str:
        return template.execute(
            dict(values), missing_key="zero" if zero else "invalid", limits=limits
        )

    def _render_legacy(
        self, messages: Sequence[Message], think_values: Mapping[str, Any], limits: Limits
    ) -> str:
        out: list[str] = []
        turn = {"System": "", "Prompt": "", "Response": ""}

        def execute() -> None:
            out.append(self._execute(self.template, {**turn, **think_values}, limits))
            turn.update(System="", Prompt="", Response="")

        for msg in messages:
            if msg.role == "system":
                if turn["Prompt"] or turn["Response"]:
                    execute()
                turn["System"] = msg.content
            elif msg.role == "user":
                if turn["Response"]:
                    execute()
                turn["Prompt"] = msg.content
            elif msg.role == "assistant":
                turn["Response"] = msg.content
        last = self.template.with_root(_cut_after_response(self.template.root))
        out.append(self._execute(last, {**turn, **think_values}, limits, zero=False))
        return "".join(out)


def _think_values(think: bool | str | None) -> dict[str, Any]:
    if think is None:
        return {"Think": False, "ThinkLevel": "", "IsThinkSet": False}
    if isinstance(think, bool):
        return {"Think": think, "ThinkLevel": "", "IsThinkSet": True}
    level = str(think)
    return {
        "Think": level.lower() not in ("", "false", "none"),
        "ThinkLevel": level,
        "IsThinkSet": True,
    }


def _cut_after_response(root: ListNode) -> ListNode:
    """Ollama's `deleteNode`: drop everything after the first `.Response` field of an action."""
    cut = False

    def predicate(node: Node) -> bool:
        nonlocal cut
        if isinstance(node, FieldNode) and "Response" in node.idents:
            cut = True
            return False
        return cut

    def walk(node: Node) -> Node | None:
        if predicate(node):
            return None
        if isinstance(node, ListNode):
            kept = [walk(child) for child in node.nodes]
            return ListNode(node.pos, [n for n in kept if n is not None])
        if isinstance(node, BranchNode):
            body = walk(node.list)
            rest = walk(node.else_list) if node.else_list is not None else None
            return type(node)(
                node.pos,
                node.pipe,
                body if isinstance(body, ListNode) else ListNode(node.list.pos),
                rest if isinstance(rest, ListNode) else None,
            )
        if isinstance(node, ActionNode):
            pipe = walk(node.pipe)
            return ActionNode(node.pos, pipe) if isinstance(pipe, PipeNode) else None
        if isinstance(node, PipeNode):
            cmds: list[CommandNode] = []
            for cmd in node.cmds:
                args = [a for a in (walk(arg) for arg in cmd.args) if a is not None]
                if not args:
                    return None
                cmds.append(CommandNode(cmd.pos, args))
            if not cmds:
                return None
            return PipeNode(node.pos, node.is_assign, node.decl, cmds)
        return node

    result = walk(root)
    return result if isinstance(result, ListNode) else ListNode(root.pos)


@functools.lru_cache(maxsize=128)
def parse_template(text: str) -> OllamaTemplate:
    """Parse a Modelfile TEMPLATE (cached: parsed templates are immutable)."""
    return OllamaTemplate.parse(text)


def render_prompt(
    template_text: str,
    messages: Sequence[Mapping[str, Any] | Message],
    *,
    system: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    think: bool | str | None = None,
    prompt: str | None = None,
    suffix: str | None = None,
    response: str = "",
    limits: Limits | None = None,
) -> str:
    """Render a conversation with a Modelfile TEMPLATE exactly as Ollama would.

    `system`, when non-empty, is put first as a system message; `prompt` (without `suffix`) is
    appended as a user message; `response`, when non-empty, is appended as an assistant message
    the model continues (prefill). With both `prompt` and `suffix` the template renders
    fill-in-the-middle and `messages` are ignored. `think` is a bool or a level ("high"...);
    None leaves `.IsThinkSet` false. Raises `TemplateError` on syntax or execution errors.
    """
    template = parse_template(template_text)
    if prompt and suffix:
        return template.render([], think=think, prompt=prompt, suffix=suffix, limits=limits)
    msgs = [Message.from_mapping(m) for m in messages]
    if system:
        msgs.insert(0, Message("system", system))
    if prompt:
        msgs.append(Message("user", prompt))
    if response:
        msgs.append(Message("assistant", response))
    return template.render(msgs, tools=tools, think=think, limits=limits)


# -- what a template uses ------------------------------------------------------------------------
def _root_fields(template: Template) -> set[str]:
    names: set[str] = set()

    def visit_arg(arg: Node, dot_is_root: bool) -> None:
        if isinstance(arg, FieldNode):
            if dot_is_root:
                names.add(arg.idents[0])
        elif isinstance(arg, VariableNode):
            if arg.idents[0] == "$" and len(arg.idents) > 1:
                names.add(arg.idents[1])
        elif isinstance(arg, PipeNode):
            visit_pipe(arg, dot_is_root)
        elif isinstance(arg, ChainNode):
            visit_arg(arg.node, dot_is_root)

    def visit_pipe(pipe: PipeNode | None, dot_is_root: bool) -> None:
        if pipe is not None:
            for cmd in pipe.cmds:
                for arg in cmd.args:
                    visit_arg(arg, dot_is_root)

    def visit(node: Node | None, dot_is_root: bool) -> None:
        if isinstance(node, ListNode):
            for child in node.nodes:
                visit(child, dot_is_root)
        elif isinstance(node, ActionNode | TemplateNode):
            visit_pipe(node.pipe, dot_is_root)
        elif isinstance(node, BranchNode):
            visit_pipe(node.pipe, dot_is_root)
            visit(node.list, dot_is_root and isinstance(node, IfNode))
            visit(node.else_list, dot_is_root)

    for root in template.trees.values():
        visit(root, True)  # defined templates are assumed to be called with the root as dot
    return names


def template_variables(template_text: str) -> set[str]:
    """Top-level fields a template reads: `{"Messages", "System", "Tools", ...}`.

    Counts `.X` where dot is the top-level value (outside `range`/`with` bodies) and `$.X`
    anywhere. Use it for capability detection: `Tools` → tools, `Suffix` → insert; for
    thinking see `thinking_tags`. Raises `TemplateError` if the template does not parse.
    """
    return _root_fields(Template.parse(template_text, FUNCS))


def thinking_tags(template_text: str) -> tuple[str, str]:
    """Ollama's `thinking.InferTags`: the literal text around `{{ .Thinking }}` in the
    `range .Messages` loop, e.g. `("<think>", "</think>")`; `("", "")` when there is none.
    Ollama reports the thinking capability when both tags are non-empty."""
    root = parse_template(template_text).template.root
    opening, closing = "", ""
    ancestors: list[Node] = []

    def in_messages_range() -> bool:
        for node in reversed(ancestors):
            if isinstance(node, RangeNode):
                return _pipe_uses_field(node.pipe, "Messages")
        return False

    def visit(node: Node | None) -> None:
        nonlocal opening, closing
        if node is None:
            return
        ancestors.append(node)
        if isinstance(node, FieldNode) and node.idents[0] == "Thinking" and in_messages_range():
            for anc in reversed(ancestors):
                if isinstance(anc, ListNode):
                    first, last = anc.nodes[0], anc.nodes[-1]
                    if isinstance(first, TextNode):
                        opening = first.text.strip()
                    if isinstance(last, TextNode):
                        closing = last.text.strip()
                    break
        for child in _children(node):
            visit(child)
        ancestors.pop()

    visit(root)
    return opening, closing


def _children(node: Node) -> list[Node]:
    if isinstance(node, ListNode):
        return list(node.nodes)
    if isinstance(node, BranchNode):
        return [n for n in (node.pipe, node.list, node.else_list) if n is not None]
    if isinstance(node, ActionNode | TemplateNode):
        return [node.pipe] if node.pipe is not None else []
    if isinstance(node, PipeNode):
        return list(node.cmds)
    if isinstance(node, CommandNode):
        return list(node.args)
    return []


def _pipe_uses_field(pipe: PipeNode, name: str) -> bool:
    stack: list[Node] = [pipe]
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode) and node.idents[0] == name:
            return True
        stack.extend(_children(node))
    return False

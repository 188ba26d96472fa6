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
tool, its `.Function`, `.Parameters`, `.Properties`, each property and `.Arguments` print as JSON
(see `corral.template.ollama_values`). Template functions: Go's builtins plus `json`,
`currentDate`, `yesterdayDate` and `toTypeScriptType`.
"""

from __future__ import annotations

import datetime
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.errors import TemplateError
from corral.template.gotmpl import (
    DEFAULT_LIMITS,
    Func,
    JSONError,
    Limits,
    Template,
    go_json_dumps,
)
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
from corral.template.ollama_values import (
    Message,
    ToolList,
    ToolProperty,
    collate,
    template_message,
    template_tool,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "FUNCS",
    "Message",
    "OllamaTemplate",
    "parse_template",
    "render_prompt",
    "template_variables",
    "thinking_tags",
]

DEFAULT_TEMPLATE = "{{ .Prompt }}"
"""The template of an imported model that brings none."""


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
        lim = limits or DEFAULT_LIMITS
        think_values = _think_values(think)
        if prompt and suffix:
            values = {"Prompt": prompt, "Suffix": suffix, "Response": "", **think_values}
            return self._execute(self.template, values, lim)
        system, collated = collate([Message.from_mapping(m) for m in messages])
        if self.uses_messages:
            values = {
                "System": system,
                "Messages": [template_message(m) for m in collated],
                "Tools": ToolList((template_tool(t) for t in tools or ()), nil=tools is None),
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
        started = time.monotonic()
        size = 0

        def execute() -> None:
            # Every turn runs under `limits`; the turns together must also stay within them.
            nonlocal size
            out.append(self._execute(self.template, {**turn, **think_values}, limits))
            turn.update(System="", Prompt="", Response="")
            size += len(out[-1])
            if size > limits.max_output:
                raise TemplateError(f"template: output exceeds {limits.max_output} characters")
            if limits.timeout is not None and time.monotonic() - started > limits.timeout:
                raise TemplateError(f"template: execution exceeded {limits.timeout} seconds")

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


@functools.lru_cache(maxsize=128)
def template_variables(template_text: str) -> frozenset[str]:
    """Top-level fields a template reads: `{"Messages", "System", "Tools", ...}`.

    Counts `.X` where dot is the top-level value (outside `range`/`with` bodies) and `$.X`
    anywhere. Use it for capability detection: `Tools` → tools, `Suffix` → insert; for
    thinking see `thinking_tags`. Raises `TemplateError` if the template does not parse.
    Cached: every request asks for its model's capabilities.
    """
    return frozenset(_root_fields(Template.parse(template_text, FUNCS)))


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

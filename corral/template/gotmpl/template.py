"""`Template`: a parsed Go template plus its functions, ready to execute many times."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from corral.template.gotmpl.builtins import BUILTINS, Func, as_func
from corral.template.gotmpl.exec import DEFAULT_LIMITS, Limits, MissingField, MissingKey, execute
from corral.template.gotmpl.nodes import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    FieldNode,
    ListNode,
    Node,
    PipeNode,
    TemplateNode,
    VariableNode,
)
from corral.template.gotmpl.parser import parse_trees

__all__ = ["Template", "walk_nodes"]


class Template:
    """A parsed Go `text/template`: the main body (name `""`) and every `define`/`block`.

    Parse with `Template.parse`; parse errors raise `corral.errors.TemplateError` naming the line
    and column. A `Template` is immutable, so one instance may be executed concurrently.
    """

    def __init__(self, text: str, trees: Mapping[str, ListNode], funcs: Mapping[str, Func]) -> None:
        self.text = text
        self.trees: Mapping[str, ListNode] = MappingProxyType(dict(trees))
        self.funcs: Mapping[str, Func] = MappingProxyType(dict(funcs))

    @classmethod
    def parse(
        cls, text: str, funcs: Mapping[str, Func | Callable[..., Any]] | None = None
    ) -> Template:
        """Parse `text`; `funcs` adds (or overrides) template functions by name."""
        wrapped = {name: as_func(fn) for name, fn in (funcs or {}).items()}
        trees = parse_trees(text, set(BUILTINS) | set(wrapped))
        return cls(text, trees, wrapped)

    @property
    def root(self) -> ListNode:
        """The main template body."""
        return self.trees[""]

    def with_root(self, root: ListNode) -> Template:
        """A copy of this template whose main body is `root` (defined templates are kept)."""
        trees = dict(self.trees)
        trees[""] = root
        return Template(self.text, trees, self.funcs)

    def execute(
        self,
        data: Any = None,
        *,
        name: str = "",
        missing_key: MissingKey = "invalid",
        missing_field: MissingField = "zero",
        limits: Limits = DEFAULT_LIMITS,
    ) -> str:
        """Render template `name` (the main one by default) with `data` as dot."""
        return execute(
            self.text,
            self.trees,
            name,
            data,
            funcs=self.funcs,
            builtins=BUILTINS,
            missing_key=missing_key,
            missing_field=missing_field,
            limits=limits,
        )

    def identifiers(self) -> list[str]:
        """Every field and variable identifier of every template, in order (duplicates kept).

        This is Ollama's `template.Identifiers` walk: field chains (`.A.B` gives `A`, `B`) and
        variables (`$.Messages` gives `$`, `Messages`) in actions, control-structure pipelines
        and bodies, and `{{template}}` arguments; fields after a parenthesised term are skipped.
        """
        names: list[str] = []
        for root in self.trees.values():
            names.extend(_identifiers(root))
        return names


def _identifiers(node: Node | None) -> list[str]:
    if isinstance(node, ListNode):
        return [name for child in node.nodes for name in _identifiers(child)]
    if isinstance(node, TemplateNode | ActionNode):
        return _identifiers(node.pipe)
    if isinstance(node, BranchNode):
        names = _identifiers(node.pipe)
        names += _identifiers(node.list)
        if node.else_list is not None:
            names += _identifiers(node.else_list)
        return names
    if isinstance(node, PipeNode):
        return [name for cmd in node.cmds for arg in cmd.args for name in _identifiers(arg)]
    if isinstance(node, FieldNode | VariableNode):
        return list(node.idents)
    return []


def walk_nodes(node: Node | None) -> Iterator[Node]:
    """Every node under `node` (itself included), depth first, in source order."""
    if node is None:
        return
    yield node
    if isinstance(node, ListNode):
        for child in node.nodes:
            yield from walk_nodes(child)
    elif isinstance(node, ActionNode | TemplateNode):
        yield from walk_nodes(node.pipe)
    elif isinstance(node, BranchNode):
        yield from walk_nodes(node.pipe)
        yield from walk_nodes(node.list)
        yield from walk_nodes(node.else_list)
    elif isinstance(node, PipeNode):
        for var in node.decl:
            yield from walk_nodes(var)
        for cmd in node.cmds:
            yield from walk_nodes(cmd)
    elif isinstance(node, CommandNode):
        for arg in node.args:
            yield from walk_nodes(arg)
    elif isinstance(node, ChainNode):
        yield from walk_nodes(node.node)

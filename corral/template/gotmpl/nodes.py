"""Parse-tree nodes of a Go `text/template`, mirroring `text/template/parse/node.go`.

Every node knows its offset in the template source (`pos`, for error positions) and prints itself
back as template text (`str(node)`), which execution errors quote as their context. Nodes are
immutable once parsed, so one parsed template can be executed by many threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ActionNode",
    "BoolNode",
    "BranchNode",
    "BreakNode",
    "ChainNode",
    "CommandNode",
    "ContinueNode",
    "DotNode",
    "ElseNode",
    "EndNode",
    "FieldNode",
    "IdentifierNode",
    "IfNode",
    "ListNode",
    "NilNode",
    "Node",
    "NumberNode",
    "PipeNode",
    "RangeNode",
    "StringNode",
    "TemplateNode",
    "TextNode",
    "VariableNode",
    "WithNode",
]


@dataclass(eq=False)
class Node:
    """Base class: `pos` is the offset of the node in the template source."""

    pos: int


@dataclass(eq=False)
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(eq=False)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass(eq=False)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(eq=False)
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(eq=False)
class NumberNode(Node):
    """A numeric literal and every Go type its text can be read as."""

    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int_value: int = 0
    float_value: float = 0.0
    complex_value: complex = 0j

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(eq=False)
class FieldNode(Node):
    """`.A.B`: a chain of field names looked up on dot."""

    idents: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


@dataclass(eq=False)
class VariableNode(Node):
    """`$x.A.B`: a variable name (with its `$`) and the fields looked up on it."""

    idents: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(eq=False)
class IdentifierNode(Node):
    """A function name."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class ChainNode(Node):
    """`(pipeline).A.B`: fields looked up on the value of a term."""

    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


@dataclass(eq=False)
class CommandNode(Node):
    """One command of a pipeline: an operand followed by its arguments."""

    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass(eq=False)
class PipeNode(Node):
    """`$x := cmd1 | cmd2`: optional variable declarations followed by commands."""

    is_assign: bool = False
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return text + " | ".join(str(c) for c in self.cmds)


@dataclass(eq=False)
class ActionNode(Node):
    """`{{pipeline}}`: evaluate and print (unless it declares variables)."""

    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(eq=False)
class BranchNode(Node):
    """Shared shape of `if`, `range` and `with`."""

    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    keyword = "branch"

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            text += "{{else}}" + str(self.else_list)
        return text + "{{end}}"


@dataclass(eq=False)
class IfNode(BranchNode):
    keyword = "if"


@dataclass(eq=False)
class RangeNode(BranchNode):
    keyword = "range"


@dataclass(eq=False)
class WithNode(BranchNode):
    keyword = "with"


@dataclass(eq=False)
class TemplateNode(Node):
    """`{{template "name" pipeline}}`."""

    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        from corral.template.gotmpl.fmt import go_quote

        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


@dataclass(eq=False)
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass(eq=False)
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(eq=False)
class EndNode(Node):
    """`{{end}}`; only used while parsing."""

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(eq=False)
class ElseNode(Node):
    """`{{else}}`; only used while parsing."""

    def __str__(self) -> str:
        return "{{else}}"

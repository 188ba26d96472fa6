"""Parser for Go `text/template`: tokens in, parse trees out.

It mirrors `text/template/parse/parse.go` (Go 1.24): the same grammar (`if`/`else if`, `range`
with `break`/`continue`, `with`/`else with`, `define`, `template`, `block`, variable declaration and
assignment, parenthesised pipelines, field chains), the same checks (undefined variables and
functions, misplaced `{{end}}`/`{{else}}`, `{{break}}` outside `{{range}}`) and the same messages.
Errors are raised as `TemplateError("template: LINE:COL: message")`, LINE and COL 1-based.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import NoReturn

from corral.errors import TemplateError
from corral.template.gotmpl.lexer import Kind, Token, lex
from corral.template.gotmpl.nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
)
from corral.template.gotmpl.strconv import parse_number, unquote

__all__ = ["MAX_NESTING", "location", "parse_trees"]

MAX_NESTING = 100
"""Deepest nesting of control structures and parentheses a template may use."""

_OPERAND_START = {
    Kind.BOOL,
    Kind.CHAR_CONSTANT,
    Kind.COMPLEX,
    Kind.DOT,
    Kind.FIELD,
    Kind.IDENTIFIER,
    Kind.NUMBER,
    Kind.NIL,
    Kind.RAW_STRING,
    Kind.STRING,
    Kind.VARIABLE,
    Kind.LEFT_PAREN,
}


def location(text: str, pos: int) -> str:
    """`LINE:COL` (both 1-based) of offset `pos` in `text`."""
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


class _Tree:
    """Parsing state for one template body (the main one, or one `define`/`block`)."""

    def __init__(self, parser: _Parser, name: str) -> None:
        self.p = parser
        self.name = name
        self.vars: list[str] = ["$"]
        self.range_depth = 0


class _Parser:
    def __init__(self, text: str, has_function: Callable[[str], bool]) -> None:
        self.text = text
        self.tokens = lex(text)
        self.i = 0
        self.has_function = has_function
        self.trees: dict[str, ListNode] = {}
        self.tree = _Tree(self, "")
        self.depth = 0
        self.last = self.tokens[0]

    # -- token stream -------------------------------------------------------------------------
    def next(self) -> Token:
        tok = self.tokens[min(self.i, len(self.tokens) - 1)]
        self.i += 1
        self.last = tok
        if tok.kind is Kind.ERROR:
            self.fail(tok.val, tok.pos)
        return tok

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> Token:
        tok = self.next()
        self.backup()
        return tok

    def next_non_space(self) -> Token:
        tok = self.next()
        while tok.kind is Kind.SPACE:
            tok = self.next()
        return tok

    def peek_non_space(self) -> Token:
        tok = self.next_non_space()
        self.backup()
        return tok

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        where = location(self.text, self.last.pos if pos is None else pos)
        raise TemplateError(f"template: {where}: {message}") from None

    def expect(self, kind: Kind, context: str) -> Token:
        tok = self.next_non_space()
        if tok.kind is not kind:
            self.unexpected(tok, context)
        return tok

    def unexpected(self, tok: Token, context: str) -> NoReturn:
        self.fail(f"unexpected {tok} in {context}", tok.pos)

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"template nesting exceeds {MAX_NESTING} levels", pos)

    # -- top level ----------------------------------------------------------------------------
    def parse(self) -> dict[str, ListNode]:
        root = ListNode(self.peek().pos)
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT_DELIM:
                start = self.i
                self.next()
                if self.next_non_space().kind is Kind.DEFINE:
                    self.parse_definition()
                    continue
                self.i = start
            node = self.text_or_action()
            if isinstance(node, EndNode | ElseNode):
                self.fail(f"unexpected {node}", node.pos)
            root.nodes.append(node)
        self.add("", root)
        return self.trees

    def add(self, name: str, root: ListNode) -> None:
        old = self.trees.get(name)
        if old is None or _is_empty(old):
            self.trees[name] = root
        elif not _is_empty(root):
            self.fail(f"template: multiple definition of template {_quote(name)}", root.pos)

    def with_tree(self, name: str, body: Callable[[], ListNode]) -> ListNode:
        outer = self.tree
        self.tree = _Tree(self, name)
        try:
            return body()
        finally:
            self.tree = outer

    def parse_definition(self) -> None:
        context = "define clause"
        tok = self.next_non_space()
        if tok.kind not in (Kind.STRING, Kind.RAW_STRING):
            self.unexpected(tok, context)
        name = self.unquote(tok)
        self.expect(Kind.RIGHT_DELIM, context)

        def body() -> ListNode:
            lst, end = self.item_list()
            if not isinstance(end, EndNode):
                self.fail(f"unexpected {end} in {context}", end.pos)
            return lst

        self.add(name, self.with_tree(name, body))

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, EndNode | ElseNode):
                return lst, node
            lst.nodes.append(node)
        self.fail("unexpected EOF")

    def text_or_action(self) -> Node:
        tok = self.next_non_space()
        if tok.kind is Kind.TEXT:
            return TextNode(tok.pos, tok.val)
        if tok.kind is Kind.LEFT_DELIM:
            return self.action()
        self.unexpected(tok, "input")

    # -- actions ------------------------------------------------------------------------------
    def action(self) -> Node:
        tok = self.next_non_space()
        kind = tok.kind
        if kind is Kind.BLOCK:
            return self.block_control()
        if kind is Kind.BREAK or kind is Kind.CONTINUE:
            return self.break_or_continue(tok)
        if kind is Kind.ELSE:
            return self.else_control(tok)
        if kind is Kind.END:
            self.expect(Kind.RIGHT_DELIM, "end")
            return EndNode(tok.pos)
        if kind is Kind.IF:
            return self.control(IfNode, "if")
        if kind is Kind.RANGE:
            return self.control(RangeNode, "range")
        if kind is Kind.TEMPLATE:
            return self.template_control()
        if kind is Kind.WITH:
            return self.control(WithNode, "with")
        self.backup()
        pos = self.peek().pos
        return ActionNode(pos, self.pipeline("command", Kind.RIGHT_DELIM))

    def break_or_continue(self, tok: Token) -> Node:
        word = tok.val
        nxt = self.next_non_space()
        if nxt.kind is not Kind.RIGHT_DELIM:
            self.unexpected(nxt, "{{" + word + "}}")
        if self.tree.range_depth == 0:
            self.fail("{{" + word + "}} outside {{range}}", tok.pos)
        return BreakNode(tok.pos) if tok.kind is Kind.BREAK else ContinueNode(tok.pos)

    def else_control(self, tok: Token) -> Node:
        if self.peek_non_space().kind not in (Kind.IF, Kind.WITH):
            self.expect(Kind.RIGHT_DELIM, "else")
        return ElseNode(tok.pos)

    def control(self, cls: type[IfNode | RangeNode | WithNode], context: str) -> Node:
        self.nest(self.last.pos)
        mark = len(self.tree.vars)
        try:
            pipe = self.pipeline(context, Kind.RIGHT_DELIM)
            if context == "range":
                self.tree.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.tree.range_depth -= 1
            else_list: ListNode | None = None
            if isinstance(nxt, ElseNode):
                peek = self.peek()
                if context == "if" and peek.kind is Kind.IF:
                    self.next()
                    else_list = ListNode(nxt.pos, [self.control(IfNode, "if")])
                elif context == "with" and peek.kind is Kind.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, [self.control(WithNode, "with")])
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        self.fail(f"expected end; found {nxt}", nxt.pos)
            return cls(pipe.pos, pipe, lst, else_list)
        finally:
            del self.tree.vars[mark:]
            self.depth -= 1

    def template_control(self) -> Node:
        context = "template clause"
        tok = self.next_non_space()
        name = self.template_name(tok, context)
        pipe: PipeNode | None = None
        if self.next_non_space().kind is not Kind.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        return TemplateNode(tok.pos, name, pipe)

    def block_control(self) -> Node:
        context = "block clause"
        tok = self.next_non_space()
        name = self.template_name(tok, context)
        pipe = self.pipeline(context, Kind.RIGHT_DELIM)

        def body() -> ListNode:
            lst, end = self.item_list()
            if not isinstance(end, EndNode):
                self.fail(f"unexpected {end} in {context}", end.pos)
            return lst

        self.add(name, self.with_tree(name, body))
        return TemplateNode(tok.pos, name, pipe)

    def template_name(self, tok: Token, context: str) -> str:
        if tok.kind not in (Kind.STRING, Kind.RAW_STRING):
            self.unexpected(tok, context)
        return self.unquote(tok)

    def unquote(self, tok: Token) -> str:
        try:
            return unquote(tok.val)
        except ValueError as exc:
            self.fail(str(exc), tok.pos)

    # -- pipelines ----------------------------------------------------------------------------
    def pipeline(self, context: str, end: Kind) -> PipeNode:
        pipe = PipeNode(self.peek_non_space().pos)
        self.declarations(pipe, context)
        while True:
            tok = self.next_non_space()
            if tok.kind is end:
                self.check_pipeline(pipe, context, tok)
                return pipe
            if tok.kind in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(tok, context)

    def declarations(self, pipe: PipeNode, context: str) -> None:
        while True:
            v = self.peek_non_space()
            if v.kind is not Kind.VARIABLE:
                return
            start = self.i
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.kind in (Kind.ASSIGN, Kind.DECLARE):
                pipe.is_assign = nxt.kind is Kind.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, (v.val,)))
                self.tree.vars.append(v.val)
                return
            if nxt.kind is Kind.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, (v.val,)))
                self.tree.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in (
                        Kind.VARIABLE,
                        Kind.RIGHT_DELIM,
                        Kind.RIGHT_PAREN,
                    ):
                        continue
                    self.fail("range can only initialize variables", nxt.pos)
                self.fail(f"too many declarations in {context}", nxt.pos)
            self.i = start
            return

    def check_pipeline(self, pipe: PipeNode, context: str, tok: Token) -> None:
        if not pipe.cmds:
            self.fail(f"missing value for {context}", tok.pos)
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                self.fail(f"non executable command in pipeline stage {i + 2}", cmd.pos)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind is Kind.SPACE:
                continue
            if tok.kind in (Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                self.backup()
            elif tok.kind is not Kind.PIPE:
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            self.fail("empty command", cmd.pos)
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind is Kind.FIELD:
            pos = self.peek().pos
            fields: list[str] = []
            while self.peek().kind is Kind.FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(node.pos, node.idents + tuple(fields))
            if isinstance(node, VariableNode):
                return VariableNode(node.pos, node.idents + tuple(fields))
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                self.fail(f"unexpected . after term {_quote(str(node))}", pos)
            return ChainNode(node.pos, node, tuple(fields))
        return node

    def term(self) -> Node | None:
        tok = self.next_non_space()
        kind = tok.kind
        if kind is Kind.IDENTIFIER:
            if not self.has_function(tok.val):
                self.fail(f"function {_quote(tok.val)} not defined", tok.pos)
            return IdentifierNode(tok.pos, tok.val)
        if kind is Kind.DOT:
            return DotNode(tok.pos)
        if kind is Kind.NIL:
            return NilNode(tok.pos)
        if kind is Kind.VARIABLE:
            return self.use_var(tok)
        if kind is Kind.FIELD:
            return FieldNode(tok.pos, tuple(tok.val[1:].split(".")))
        if kind is Kind.BOOL:
            return BoolNode(tok.pos, tok.val == "true")
        if kind in (Kind.CHAR_CONSTANT, Kind.COMPLEX, Kind.NUMBER):
            return self.number(tok)
        if kind is Kind.LEFT_PAREN:
            self.nest(tok.pos)
            try:
                return self.pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
            finally:
                self.depth -= 1
        if kind in (Kind.STRING, Kind.RAW_STRING):
            return StringNode(tok.pos, tok.val, self.unquote(tok))
        self.backup()
        return None

    def number(self, tok: Token) -> NumberNode:
        try:
            return parse_number(tok.pos, tok.val, tok.kind is Kind.CHAR_CONSTANT)
        except ValueError as exc:
            self.fail(str(exc), tok.pos)

    def use_var(self, tok: Token) -> VariableNode:
        idents = tuple(tok.val.split("."))
        if idents[0] not in self.tree.vars:
            self.fail(f"undefined variable {_quote(idents[0])}", tok.pos)
        return VariableNode(tok.pos, idents)


_EMPTY_RE = re.compile(r"\s*")


def _is_empty(root: ListNode) -> bool:
    for node in root.nodes:
        if isinstance(node, TextNode):
            if not _EMPTY_RE.fullmatch(node.text):
                return False
        else:
            return False
    return True


def _quote(text: str) -> str:
    from corral.template.gotmpl.fmt import go_quote

    return go_quote(text)


def parse_trees(text: str, functions: Collection[str]) -> dict[str, ListNode]:
    """Parse `text` into its templates: `""` for the main one plus one per `define`/`block`.

    `functions` names every function the template may call (builtins included); calling any other
    is a parse error, as in Go.
    """
    parser = _Parser(text, lambda name: name in functions)
    try:
        return parser.parse()
    except RecursionError:
        raise TemplateError("template: nesting too deep to parse") from None

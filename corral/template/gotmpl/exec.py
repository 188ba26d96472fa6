"""Execution of parsed Go templates (`text/template/exec.go`), with limits for hostile input.

Semantics follow Go: pipelines pass their value as the last argument of the next command,
variables live until the `{{end}}` of the block that declared them, `range` visits maps in
sorted key order (and integers as 0..n-1), `and`/`or` short-circuit and return the deciding
value, `{{template}}` calls see only the dot they are given. Missing map keys evaluate to "no
value" (printed `<no value>`); with `missingkey="zero"` they are a nil value instead (also
printed `<no value>`, but a field looked up on it is an error, as in Go), and with
`missingkey="error"` they fail. Fields missing from struct-like objects evaluate to `""` unless
`missing_field="error"` (Go fails; see `corral.template.gotmpl` for why corral does not).

Every execution is bounded by a `Limits`: nested template calls, output size, evaluation steps
and wall-clock time. Exceeding one raises `TemplateError`; so does every runtime error, as
`template: LINE:COL: executing at <NODE>: MESSAGE`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from corral.errors import TemplateError
from corral.template.gotmpl.builtins import Func
from corral.template.gotmpl.fmt import sprint_value
from corral.template.gotmpl.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
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
from corral.template.gotmpl.parser import location
from corral.template.gotmpl.strconv import INT64_MAX, INT64_MIN
from corral.template.gotmpl.values import (
    MISSING,
    NO_VALUE,
    get_field,
    go_type_name,
    is_struct,
    is_true,
    map_items,
)

__all__ = ["DEFAULT_LIMITS", "Limits", "MissingField", "MissingKey", "execute"]

MissingKey = Literal["invalid", "zero", "error"]
MissingField = Literal["zero", "error"]


@dataclass(frozen=True)
class Limits:
    """Bounds on one execution, so a hostile template cannot hang or exhaust the daemon."""

    max_depth: int = 100
    """Deepest chain of nested `{{template}}` calls."""
    max_output: int = 32 * 1024 * 1024
    """Most characters the output (or any single string value) may hold."""
    max_steps: int = 5_000_000
    """Most evaluation steps (nodes walked plus commands evaluated)."""
    timeout: float | None = 10.0
    """Most seconds of wall-clock time, or None for no time limit."""


DEFAULT_LIMITS = Limits()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_TIME_CHECK_EVERY = 1024
_CONTEXT_MAX = 40


class _State:
    def __init__(
        self,
        text: str,
        trees: Mapping[str, ListNode],
        funcs: Mapping[str, Func],
        builtins: Mapping[str, Func],
        missing_key: MissingKey,
        missing_field: MissingField,
        limits: Limits,
    ) -> None:
        self.text = text
        self.trees = trees
        self.funcs = funcs
        self.builtins = builtins
        self.missing_key = missing_key
        self.missing_field = missing_field
        self.limits = limits
        self.vars: list[list[Any]] = []
        self.out: list[str] = []
        self.out_len = 0
        self.steps = 0
        self.depth = 0
        self.name = ""
        self.node: Node | None = None
        self.deadline = None if limits.timeout is None else time.monotonic() + limits.timeout

    # -- errors and budgets ---------------------------------------------------------------------
    def errorf(self, message: str) -> NoReturn:
        if self.node is None:
            raise TemplateError(f"template: {message}")
        where = location(self.text, self.node.pos)
        context = str(self.node)
        if len(context) > _CONTEXT_MAX:
            context = context[:_CONTEXT_MAX] + "..."
        name = f' "{self.name}"' if self.name else ""
        at = f" at <{context}>" if context else ""
        raise TemplateError(f"template: {where}: executing{name}{at}: {message}")

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.errorf(f"template execution exceeded {self.limits.max_steps} steps")
        if (
            self.deadline is not None
            and self.steps % _TIME_CHECK_EVERY == 0
            and time.monotonic() > self.deadline
        ):
            self.errorf(f"template execution exceeded {self.limits.timeout} seconds")

    def write(self, text: str) -> None:
        self.out_len += len(text)
        if self.out_len > self.limits.max_output:
            self.errorf(f"template output exceeds {self.limits.max_output} characters")
        self.out.append(text)

    # -- variables ------------------------------------------------------------------------------
    def push(self, name: str, value: Any) -> None:
        self.vars.append([name, value])

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.errorf(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        self.vars[-n][1] = value

    def var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.errorf(f"undefined variable: {name}")

    # -- walking --------------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.node = node
        self.tick()
        if isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, TextNode):
            self.write(node.text)
        elif isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, IfNode | WithNode):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        else:
            self.errorf(f"unknown node: {node}")

    def print_value(self, node: Node, value: Any) -> None:
        self.node = node
        if value is NO_VALUE or value is None:
            self.write("<no value>")
        elif isinstance(value, Func) or (callable(value) and not is_struct(value)):
            self.errorf(f"can't print {node} of type {go_type_name(value)}")
        else:
            self.write(sprint_value(value))

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = self.mark()
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if is_true(value):
                self.walk(value if isinstance(node, WithNode) else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, node: RangeNode) -> None:
        self.node = node
        outer = self.mark()
        try:
            value = self.eval_pipeline(dot, node.pipe)
            mark = self.mark()
            decl, assign = node.pipe.decl, node.pipe.is_assign

            def one_iteration(index: Any, elem: Any) -> None:
                if decl:
                    if assign:
                        self.set_var(decl[0].idents[0], index if len(decl) > 1 else elem)
                    else:
                        self.set_top_var(1, elem)
                if len(decl) > 1:
                    if assign:
                        self.set_var(decl[1].idents[0], elem)
                    else:
                        self.set_top_var(2, index)
                try:
                    self.walk(elem, node.list)
                except _Continue:
                    pass
                finally:
                    self.pop(mark)

            ran = False
            try:
                if isinstance(value, list | tuple | bytes | bytearray):
                    for i, elem in enumerate(value):
                        ran = True
                        one_iteration(i, elem)
                elif isinstance(value, Mapping):
                    for key, elem in map_items(value):
                        ran = True
                        one_iteration(key, elem)
                elif isinstance(value, int) and not isinstance(value, bool):
                    if len(decl) > 1:
                        self.node = node
                        self.errorf(f"can't use {value} to iterate over more than one variable")
                    for i in range(value):
                        ran = True
                        one_iteration(NO_VALUE, i)
                elif value is not NO_VALUE and value is not None:
                    self.node = node
                    self.errorf(f"range can't iterate over {sprint_value(value)}")
            except _Break:
                return
            if not ran and node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(outer)

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        self.node = node
        tree = self.trees.get(node.name)
        if tree is None:
            self.errorf(f"template {_quote(node.name)} not defined")
        if self.depth >= self.limits.max_depth:
            self.errorf(f"exceeded maximum template depth ({self.limits.max_depth})")
        new_dot = self.eval_pipeline(dot, node.pipe)
        saved = (self.vars, self.name)
        self.vars = [["$", new_dot]]
        self.name = node.name
        self.depth += 1
        try:
            self.walk(new_dot, tree)
        finally:
            self.vars, self.name = saved
            self.depth -= 1

    # -- evaluation -----------------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode | None) -> Any:
        if pipe is None:
            return NO_VALUE
        self.node = pipe
        value: Any = MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # a nil interface loses its type: Go's "dig down one level"
                value = NO_VALUE
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.idents[0], value)
            else:
                self.push(var.idents[0], value)
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not MISSING:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        self.tick()
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        self.errorf(f"can't evaluate command {_quote(str(first))}")

    def ideal_constant(self, node: NumberNode) -> Any:
        self.node = node
        text = node.text
        if node.is_complex:
            return node.complex_value
        is_hex_int = text[:2] in ("0x", "0X") and len(text) > 2 and not any(c in "pP" for c in text)
        if (
            node.is_float
            and not is_hex_int
            and not text.startswith("'")
            and any(c in text for c in ".eEpP")
        ):
            return node.float_value
        if node.is_int:
            if not INT64_MIN <= node.int_value <= INT64_MAX:
                self.errorf(f"{text} overflows int")
            return node.int_value
        if node.is_uint:
            self.errorf(f"{text} overflows int")
        return NO_VALUE

    def eval_chain(self, dot: Any, chain: ChainNode, args: list[Node], final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, NilNode):
            self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: Any, var: VariableNode, args: list[Node], final: Any) -> Any:
        self.node = var
        value = self.var_value(var.idents[0])
        if len(var.idents) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.idents[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        idents: tuple[str, ...],
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        for ident in idents[:-1]:
            receiver = self.eval_field(ident, node, None, MISSING, receiver)
        return self.eval_field(idents[-1], node, args, final, receiver)

    def eval_field(
        self, name: str, node: Node, args: list[Node] | None, final: Any, receiver: Any
    ) -> Any:
        self.node = node
        if receiver is NO_VALUE:
            if self.missing_key == "error":
                self.errorf(f"nil data; no entry for key {_quote(name)}")
            return NO_VALUE
        if receiver is None:
            self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not MISSING
        if isinstance(receiver, Mapping):
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missing_key == "error":
                self.errorf(f"map has no entry for key {_quote(name)}")
            return None if self.missing_key == "zero" else NO_VALUE
        if is_struct(receiver):
            value = get_field(receiver, name)
            if value is not MISSING:
                if has_args:
                    self.errorf(f"{name} has arguments but cannot be invoked as function")
                return value
            if self.missing_field == "zero":
                return ""
        self.errorf(f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def eval_function(self, dot: Any, node: IdentifierNode, args: list[Node], final: Any) -> Any:
        self.node = node
        name = node.name
        func = self.funcs.get(name)
        is_builtin = False
        if func is None:
            func = self.builtins.get(name)
            is_builtin = func is not None
        if func is None:
            self.errorf(f"{_quote(name)} is not a defined function")
        return self.eval_call(dot, func, is_builtin, node, name, args[1:], final)

    def eval_call(
        self,
        dot: Any,
        func: Func,
        is_builtin: bool,
        node: Node,
        name: str,
        args: list[Node],
        final: Any,
    ) -> Any:
        count = len(args) + (0 if final is MISSING else 1)
        if func.max_args is None:
            if count < func.min_args:
                self.errorf(
                    f"wrong number of args for {name}: want at least {func.min_args} "
                    f"got {len(args)}"
                )
        elif not func.min_args <= count <= func.max_args:
            self.errorf(f"wrong number of args for {name}: want {func.max_args} got {count}")
        if is_builtin and name in ("and", "or"):
            value: Any = NO_VALUE
            for arg in args:
                value = self.eval_arg(dot, arg)
                if is_true(value) == (name == "or"):
                    return value
            return final if final is not MISSING else value
        argv = [self.eval_arg(dot, arg) for arg in args]
        if final is not MISSING:
            argv.append(final)
        if not func.raw:
            argv = [None if a is NO_VALUE else a for a in argv]
        self.node = node
        try:
            result = func.fn(*argv)
        except TemplateError:
            raise
        except (RecursionError, MemoryError):
            raise
        except Exception as exc:  # Go recovers panics in template functions as errors too
            self.errorf(f"error calling {name}: {exc}")
        if isinstance(result, str) and len(result) > self.limits.max_output:
            self.errorf(f"value of {name} exceeds {self.limits.max_output} characters")
        return result

    def eval_arg(self, dot: Any, node: Node) -> Any:
        self.node = node
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, NilNode):
            return None
        if isinstance(node, FieldNode):
            return self.eval_field_chain(dot, dot, node, node.idents, [node], MISSING)
        if isinstance(node, VariableNode):
            return self.eval_variable(dot, node, [node], MISSING)
        if isinstance(node, PipeNode):
            return self.eval_pipeline(dot, node)
        if isinstance(node, IdentifierNode):
            return self.eval_function(dot, node, [node], MISSING)
        if isinstance(node, ChainNode):
            return self.eval_chain(dot, node, [node], MISSING)
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NumberNode):
            return self.ideal_constant(node)
        if isinstance(node, StringNode):
            return node.text
        self.errorf(f"can't handle {node} for arg")


def _quote(text: str) -> str:
    from corral.template.gotmpl.fmt import go_quote

    return go_quote(text)


def execute(
    text: str,
    trees: Mapping[str, ListNode],
    name: str,
    data: Any,
    *,
    funcs: Mapping[str, Func],
    builtins: Mapping[str, Func],
    missing_key: MissingKey = "invalid",
    missing_field: MissingField = "zero",
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """Run template `name` of `trees` (parsed from `text`) on `data`; return the output."""
    state = _State(text, trees, funcs, builtins, missing_key, missing_field, limits)
    root = trees.get(name)
    if root is None:
        raise TemplateError(f"template: {_quote(name)} is an incomplete or empty template")
    if data is None:  # Go: reflect.ValueOf(nil) is the invalid value
        data = NO_VALUE
    state.vars = [["$", data]]
    state.name = name
    try:
        state.walk(data, root)
    except (_Break, _Continue):  # only reachable through a hand-built tree
        state.errorf("break or continue outside range")
    except RecursionError:
        raise TemplateError("template: execution nested too deeply") from None
    return "".join(state.out)

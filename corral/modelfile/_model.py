"""The `Modelfile` value: what a Modelfile says, built from instructions and written back.

Semantics follow Ollama (`parser.Modelfile.CreateRequest`, reference §3.1–3.3):

* At least one `FROM` is required (`no FROM line`). The first FROM is `from_`;
  later ones (a projector beside the base, say) are kept in order in `extra_froms`.
* `TEMPLATE`, `SYSTEM`, `DRAFT`, `RENDERER`, `PARSER`, `REQUIRES` and every
  non-list `PARAMETER`: the last line wins. `ADAPTER`, `LICENSE` and `MESSAGE`
  accumulate; so do repeated `PARAMETER stop` lines. (Ollama allows one adapter;
  the create step enforces that, not the parser.)
* `PARAMETER` names and values are checked here (Ollama checks them when it builds
  the create request): unknown names and wrong types are errors at their line,
  deprecated names are dropped with a warning in `warnings` (also logged).
* `REQUIRES` must be a semantic version, with an optional `v` that is dropped.
* `FROM`, `ADAPTER`, `DRAFT`, `RENDERER`, `PARSER` and `REQUIRES` may not be empty.

`render()` writes canonical text in `ollama show` order such that
`parse(m.render()) == m` for every Modelfile it accepts. It refuses (ModelfileError)
what no Modelfile can express: no FROM, empty required values, unknown or mistyped
parameters, an empty `stop` list, invalid roles or versions, control characters,
and quoted text with a line that ends in `\"\"\"` (Ollama has no escapes, and such a
line would close the quote early).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.errors import ModelfileError
from corral.modelfile._params import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    coerce_parameter,
    format_parameter_value,
    validate_parameter_value,
)
from corral.modelfile._syntax import (
    MAX_MODELFILE_BYTES,
    ROLES,
    Instruction,
    decode,
    parse_instructions,
    quote,
    show,
)

__all__ = ["MAX_STOP_SEQUENCES", "Modelfile", "normalize_requires", "parse", "parse_file"]

logger = logging.getLogger("corral.modelfile")

MAX_STOP_SEQUENCES = 256
"""Most `PARAMETER stop` values one Modelfile may hold (security catalogue C9)."""

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_IDENT = r"[0-9A-Za-z-]+"
_SEMVER_RE = re.compile(
    rf"{_NUM}(?:\.{_NUM}(?:\.{_NUM}(?:-{_PRE_IDENT}(?:\.{_PRE_IDENT})*)?"
    rf"(?:\+{_BUILD_IDENT}(?:\.{_BUILD_IDENT})*)?)?)?"
)
_NONEMPTY = {
    "from": "a model name or path",
    "adapter": "a path",
    "draft": "a path",
    "renderer": "a renderer name",
    "parser": "a parser name",
}


def normalize_requires(version: str) -> str:
    """Validate a `REQUIRES` version as Go's `semver.IsValid` does; return it without `v`.

    Raises:
        ModelfileError: not a semantic version (`line` is 0).
    """
    bare = version[1:] if version.startswith("v") else version
    if not _SEMVER_RE.fullmatch(bare):
        raise ModelfileError(
            f"invalid REQUIRES version {show(version)}: it must be a valid semver (e.g. 0.14.0)"
        )
    return bare


def _canonical_requires(version: str | None) -> str | None:
    try:
        return None if version is None else normalize_requires(version)
    except ModelfileError:
        return version


@dataclass(eq=False)
class Modelfile:
    """A parsed Modelfile. Equality ignores `warnings`; `str(m)` is `m.render()`."""

    from_: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    adapters: list[str] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    requires: str | None = None
    draft: str | None = None
    renderer: str | None = None
    parser: str | None = None
    extra_froms: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def _key(self) -> tuple[Any, ...]:
        return (
            self.from_,
            self.parameters,
            self.template,
            self.system,
            self.adapters,
            self.licenses,
            [tuple(m) for m in self.messages],
            _canonical_requires(self.requires),
            self.draft,
            self.renderer,
            self.parser,
            self.extra_froms,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Modelfile):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_instructions(
        cls, instructions: Iterable[Instruction], *, source: str = "Modelfile"
    ) -> Modelfile:
        """Apply instructions in order (see the module docstring for the rules).

        Raises:
            ModelfileError: an empty required value, a bad parameter or version,
                too many stop values, or no FROM line.
        """
        m = cls()
        for ins in instructions:
            try:
                m._apply(ins, source)
            except ModelfileError as exc:
                if exc.line:
                    raise
                raise ModelfileError(exc.reason, line=ins.line, source=source) from None
        if m.from_ is None:
            raise ModelfileError("no FROM line", source=source)
        return m

    def _apply(self, ins: Instruction, source: str) -> None:
        name, args = ins.name, ins.args
        if name in _NONEMPTY and not args:
            raise ModelfileError(f"missing argument: {name.upper()} needs {_NONEMPTY[name]}")
        if name == "from":
            if self.from_ is None:
                self.from_ = args
            else:
                self.extra_froms.append(args)
        elif name == "adapter":
            self.adapters.append(args)
        elif name == "license":
            self.licenses.append(args)
        elif name == "message":
            self.messages.append((ins.key, args))
        elif name == "requires":
            self.requires = normalize_requires(args)
        elif name == "parameter":
            self._apply_parameter(ins, source)
        elif name in ("template", "system", "draft", "renderer", "parser"):
            setattr(self, name, args)
        else:  # pragma: no cover - the scanner only yields known names
            raise ModelfileError(f"unknown instruction {show(name)}")

    def _apply_parameter(self, ins: Instruction, source: str) -> None:
        key = ins.key
        if key in DEPRECATED_PARAMETERS:
            warning = f'{source}:{ins.line}: parameter "{key}" is deprecated and was ignored'
            logger.warning("%s", warning)
            self.warnings.append(warning)
            return
        value = coerce_parameter(key, ins.args)
        if PARAMETER_TYPES[key] is not list:
            self.parameters[key] = value
            return
        values: list[str] = self.parameters.setdefault(key, [])
        if len(values) >= MAX_STOP_SEQUENCES:
            raise ModelfileError(
                f'too many "{key}" values: at most {MAX_STOP_SEQUENCES} are allowed'
            )
        values.append(ins.args)

    def render(self) -> str:
        """Canonical Modelfile text; `parse(m.render()) == m`.

        Raises:
            ModelfileError: the Modelfile cannot be written (see the module docstring).
        """
        if self.from_ is None:
            raise ModelfileError("cannot write a Modelfile with no FROM line")
        out: list[str] = []

        def add(prefix: str, value: str, *, required: bool = False) -> None:
            if required and not value:
                raise ModelfileError(f"cannot write {prefix}: the value is empty")
            out.append(f"{prefix} {quote(value, what=prefix)}")

        add("FROM", self.from_, required=True)
        for adapter in self.adapters:
            add("ADAPTER", adapter, required=True)
        if self.draft is not None:
            add("DRAFT", self.draft, required=True)
        for extra in self.extra_froms:
            add("FROM", extra, required=True)
        if self.template is not None:
            add("TEMPLATE", self.template)
        if self.system is not None:
            add("SYSTEM", self.system)
        if self.renderer is not None:
            add("RENDERER", self.renderer, required=True)
        if self.parser is not None:
            add("PARSER", self.parser, required=True)
        if self.requires is not None:
            out.append(f"REQUIRES {normalize_requires(self.requires)}")
        for key, value in self.parameters.items():
            validate_parameter_value(key, value)
            if isinstance(value, list):
                for item in value:
                    add(f"PARAMETER {key}", item)
            else:
                out.append(f"PARAMETER {key} {format_parameter_value(value)}")
        for text in self.licenses:
            add("LICENSE", text)
        for role, content in self.messages:
            if role not in ROLES:
                raise ModelfileError(
                    f"cannot write MESSAGE: invalid message role {show(role)}: the message "
                    'role must be one of "system", "user", or "assistant"'
                )
            add(f"MESSAGE {role}", content)
        return "\n".join(out) + "\n"

    def __str__(self) -> str:
        return self.render()


def parse(text: str | bytes, *, source: str = "Modelfile") -> Modelfile:
    """Parse Modelfile text (or bytes: UTF-8, or UTF-16 with a BOM).

    Raises:
        ModelfileError: the first rule broken, with its line; `str(e)` is
            `<source>:<line>: <message>`.
    """
    decoded = decode(text, source=source)
    return Modelfile.from_instructions(parse_instructions(decoded, source=source), source=source)


def parse_file(path: str | os.PathLike[str]) -> Modelfile:
    """Read and parse a Modelfile; errors name the file as their source.

    Raises:
        ModelfileError: the file cannot be read, is too large, or does not parse.
    """
    source = os.fspath(path)
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_MODELFILE_BYTES:
            raise ModelfileError(
                f"Modelfile is {size} bytes, over the {MAX_MODELFILE_BYTES}-byte limit",
                source=source,
            )
        data = file.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ModelfileError(f"cannot read Modelfile {show(source, 200)}: {reason}") from exc
    return parse(data, source=source)

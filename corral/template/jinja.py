"""Render a GGUF's Jinja `tokenizer.chat_template` the way Hugging Face transformers does.

Used when a model brings only a Jinja chat template that autodetection could not map
to a Go template. The environment matches transformers' chat-template renderer
(`trim_blocks`, `lstrip_blocks`, the `loopcontrols` extension, a `{% generation %}`
tag, the `raise_exception` and `strftime_now` globals, and its `tojson` filter), and
runs in `ChatTemplateEnvironment`, jinja2's immutable sandbox with time and size
limits. Every failure, from a syntax error to a blocked `__class__` lookup or a blown
limit, is raised as `corral.errors.TemplateError`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.parser import Parser

from corral.errors import TemplateError
from corral.template.jinja_sandbox import (
    DEFAULT_MAX_OUTPUT,
    ChatTemplateEnvironment,
    RenderLimits,
    limits_active,
)

__all__ = ["DEFAULT_TIME_LIMIT", "MAX_TEMPLATE_SIZE", "render_jinja"]

DEFAULT_TIME_LIMIT = 2.0
#: Longer template texts are refused before compiling (real ones are under 64 KiB).
MAX_TEMPLATE_SIZE = 1024 * 1024
_CACHE_SIZE = 64
_MAX_MESSAGE = 300


class _RaisedByTemplate(jinja2.TemplateError):
    """What the template's own `raise_exception(...)` raises."""


def _raise_exception(message: Any) -> NoReturn:
    raise _RaisedByTemplate(str(message))


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | str | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """transformers' `tojson`: plain `json.dumps`, without jinja's HTML escaping."""
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if n * max > 10_000:
        raise TemplateError("chat template asked lipsum for more than 10000 words")
    return str(jinja2.utils.generate_lorem_ipsum(n=n, html=html, min=min, max=max))


class _GenerationTag(Extension):
    """`{% generation %}...{% endgeneration %}`: transformers marks assistant text with it.

    We render the body unchanged, in its own scope, as transformers does when it is not
    collecting an assistant mask.
    """

    tags = {"generation"}  # noqa: RUF012 (jinja2's declared type)

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _make_environment() -> ChatTemplateEnvironment:
    env = ChatTemplateEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTag, "jinja2.ext.loopcontrols"],
    )
    env.filters["tojson"] = _tojson
    env.guard_filters()
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["lipsum"] = _lipsum
    return env


_ENV = _make_environment()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(source: str) -> jinja2.Template:
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"chat template syntax error on line {exc.lineno}: {_clean(exc.message or '')}"
        ) from None


def _clean(message: str) -> str:
    """One line, no heap addresses, bounded length."""
    message = re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(message.split()))
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _template_line(exc: BaseException) -> int | None:
    """The template line of the innermost template frame in `exc`'s traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _translate(exc: Exception) -> TemplateError:
    line = _template_line(exc)
    where = f" on line {line}" if line else ""
    message = _clean(str(exc))
    if isinstance(exc, _RaisedByTemplate):
        return TemplateError(f"chat template raised an error{where}: {message}")
    if isinstance(exc, SecurityError):
        return TemplateError(f"chat template tried an unsafe operation{where}: {message}")
    if isinstance(exc, RecursionError):
        return TemplateError(f"chat template recursed too deeply{where}")
    if isinstance(exc, MemoryError):
        return TemplateError(f"chat template ran out of memory{where}")
    if isinstance(exc, jinja2.TemplateError):
        return TemplateError(f"chat template failed{where}: {message}")
    return TemplateError(f"chat template failed{where}: {type(exc).__name__}: {message}")


def render_jinja(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    tools: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> str:
    """Render a Jinja chat template as transformers' `apply_chat_template` would.

    The template sees `messages`, `tools` (None when not given), `documents` (None),
    `add_generation_prompt`, `bos_token`, `eos_token` and every key of `extra` (which
    may override them, e.g. `{"enable_thinking": False}`). Rendering stops with
    `TemplateError` after `time_limit` seconds or once the output, or any value the
    template builds, passes `max_output` characters. Compiled templates are cached by
    their text. Blocking and CPU-bound: call it off the event loop.
    """
    if len(template) > MAX_TEMPLATE_SIZE:
        raise TemplateError(
            f"chat template is {len(template)} characters long,"
            f" over the limit of {MAX_TEMPLATE_SIZE}"
        )
    limits = RenderLimits(time_limit, max_output)
    context: dict[str, Any] = {
        "messages": [dict(message) for message in messages],
        "tools": None if tools is None else [dict(tool) for tool in tools],
        "documents": None,
        "add_generation_prompt": add_generation_prompt,
        "bos_token": bos_token,
        "eos_token": eos_token,
    }
    context.update(extra or {})
    chunks: list[str] = []
    with limits_active(limits):
        try:
            compiled = _compile(template)
            for chunk in compiled.generate(context):
                limits.emit(chunk)
                chunks.append(chunk)
        except TemplateError:
            raise
        except Exception as exc:
            raise _translate(exc) from None
    return "".join(chunks)

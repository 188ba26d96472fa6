"""Map a GGUF's Jinja chat template to one of Ollama's named Go templates.

Owns the shipped template library in `corral/template/data/` (Ollama's MIT-licensed
`template/` directory: `NAME.gotmpl`, its default parameters `NAME.json`, and the
Jinja-to-name index) and the matching rule Ollama uses on import
(`template/template.go`, `Named`):

1. a Jinja text known verbatim (`index.json`, `jinja-names.jsonl`) gives its name;
2. otherwise the `index.json` entry with the smallest Levenshtein distance (counted in
   code points, the first entry winning a tie) is chosen if that distance is under 100;
3. otherwise there is no match and the caller keeps the Jinja template.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from corral.errors import TemplateError

__all__ = [
    "MATCH_THRESHOLD",
    "NamedTemplate",
    "detect_template",
    "levenshtein",
    "named_template",
    "template_names",
]

#: A template matches when its distance is strictly below this (Ollama's `score < 100`).
MATCH_THRESHOLD = 100

_DATA = "data"


@dataclass(frozen=True)
class NamedTemplate:
    """A built-in Go template: its name, its text and its default parameters."""

    name: str
    template: str
    parameters: dict[str, Any] = field(default_factory=dict)


def levenshtein(a: str, b: str) -> int:
    """Edit distance between `a` and `b` in code points (insert, delete, substitute).

    Uses Hyyrö's bit-parallel form of Myers' algorithm with Python integers as bit
    vectors, so two 4,000-character templates compare in milliseconds.
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & mask) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return score


def _read_text(filename: str) -> str | None:
    path = resources.files("corral.template") / _DATA / filename
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


@functools.cache
def _index() -> tuple[tuple[str, str], ...]:
    """`index.json` as (jinja, name) pairs, in file order (the order breaks ties)."""
    text = _read_text("index.json")
    if text is None:
        raise TemplateError("the template index index.json is missing from corral/template/data")
    return tuple((entry["template"], entry["name"]) for entry in json.loads(text))


@functools.cache
def _known() -> dict[str, str]:
    """Every Jinja text known verbatim, mapped to its template name."""
    known: dict[str, str] = {}
    extra = _read_text("jinja-names.jsonl") or ""
    for line in extra.splitlines():
        if line.strip():
            for name, jinja in json.loads(line).items():
                known.setdefault(jinja, name)
    for jinja, name in _index():
        known[jinja] = name
    return known


@functools.cache
def _names() -> tuple[str, ...]:
    data = resources.files("corral.template") / _DATA
    return tuple(
        sorted(
            entry.name.removesuffix(".gotmpl")
            for entry in data.iterdir()
            if entry.name.endswith(".gotmpl")
        )
    )


def template_names() -> list[str]:
    """The names of the built-in templates, sorted."""
    return list(_names())


@functools.cache
def _load(name: str) -> NamedTemplate:
    text = _read_text(f"{name}.gotmpl")
    if text is None:
        raise TemplateError(f'unknown template name "{name}"')
    params_text = _read_text(f"{name}.json")
    params: dict[str, Any] = json.loads(params_text) if params_text is not None else {}
    if not isinstance(params, dict):
        raise TemplateError(f'template parameters file "{name}.json" does not hold an object')
    return NamedTemplate(name=name, template=text.replace("\r\n", "\n"), parameters=params)


def named_template(name: str) -> NamedTemplate:
    """The built-in template called `name`; `TemplateError` when there is none.

    The returned `parameters` dict is a fresh copy the caller may change.
    """
    if name not in _names():
        raise TemplateError(
            f'unknown template name "{name}": expected one of {", ".join(_names())}'
        )
    found = _load(name)
    return NamedTemplate(found.name, found.template, json.loads(json.dumps(found.parameters)))


def _closest(jinja_template: str) -> tuple[str, int] | None:
    """Ollama's rule: the index entry nearest by edit distance, first one on a tie."""
    best_name: str | None = None
    best = MATCH_THRESHOLD  # only distances strictly below this can win
    for jinja, name in _index():
        if abs(len(jinja) - len(jinja_template)) >= best:
            continue  # the length gap alone is a lower bound on the distance
        distance = levenshtein(jinja_template, jinja)
        if distance < best:
            best, best_name = distance, name
    return None if best_name is None else (best_name, best)


def detect_template(jinja_template: str) -> NamedTemplate | None:
    """The built-in Go template matching a Jinja chat template, or None if none is close."""
    name = _known().get(jinja_template)
    if name is None:
        closest = _closest(jinja_template)
        if closest is None:
            return None
        name = closest[0]
    return named_template(name)

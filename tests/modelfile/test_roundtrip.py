"""Property tests: `parse(render(m)) == m`, and `parse(render(parse(x))) == parse(x)` (C12).

Text that contains a `\"\"\"` right before a line break cannot be quoted in a Modelfile
(Ollama has no escapes); `render` refuses exactly those, and the properties check that
it refuses nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings, strategies as st

from corral.errors import ModelfileError
from corral.modelfile import PARAMETER_TYPES, ROLES, Modelfile, parse

TRICKY = st.sampled_from(
    ['"', '"""', '""', "\n", " ", "\t", "\\", "#", "# x", "\n\n", '\n"', " \n", "\n ",
     "FROM y", "PARAMETER stop x", "\u00a0", "\u2028", "'''", "\\n", "{{ .Prompt }}", "é世🦙"]
)  # fmt: skip
CHARS = st.characters(blacklist_categories=("Cc", "Cs"))
TEXT = st.lists(st.one_of(st.text(CHARS, max_size=6), TRICKY), max_size=7).map("".join)
NONEMPTY = st.lists(st.one_of(st.text(CHARS, min_size=1, max_size=6), TRICKY), min_size=1,
                    max_size=7).map("".join)  # fmt: skip
SEMVER = st.from_regex(r"(0|[1-9][0-9]?)(\.(0|[1-9][0-9]?)(\.(0|[1-9][0-9]?)(-rc\.[0-9])?)?)?",
                       fullmatch=True)  # fmt: skip


def _value(kind: type) -> st.SearchStrategy[Any]:
    if kind is list:
        return st.lists(TEXT, min_size=1, max_size=3)
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    return st.one_of(
        st.floats(min_value=-3.4e38, max_value=3.4e38, allow_nan=False),
        st.integers(min_value=-1000, max_value=1000),
    )


PARAMETERS = st.lists(st.sampled_from(list(PARAMETER_TYPES)), unique=True, max_size=5).flatmap(
    lambda names: st.fixed_dictionaries({n: _value(PARAMETER_TYPES[n]) for n in names})
)

MODELFILES = st.builds(
    Modelfile,
    from_=NONEMPTY,
    parameters=PARAMETERS,
    template=st.none() | TEXT,
    system=st.none() | TEXT,
    adapters=st.lists(NONEMPTY, max_size=2),
    licenses=st.lists(TEXT, max_size=2),
    messages=st.lists(st.tuples(st.sampled_from(ROLES), TEXT), max_size=3),
    requires=st.none() | SEMVER,
    draft=st.none() | NONEMPTY,
    renderer=st.none() | NONEMPTY,
    parser=st.none() | NONEMPTY,
    extra_froms=st.lists(NONEMPTY, max_size=2),
)


def _unquotable(text: str) -> bool:
    """A line (not the last) ends with \"\"\": it would close a \"\"\"-quoted value early."""
    return any(line.rstrip().endswith('"""') for line in text.split("\n")[:-1])


def _strings(m: Modelfile) -> list[str]:
    found = [m.from_ or "", *m.adapters, *m.licenses, *m.extra_froms]
    found += [s for s in (m.template, m.system, m.draft, m.renderer, m.parser) if s is not None]
    found += [content for _, content in m.messages]
    found += m.parameters.get("stop", [])
    return found


@settings(max_examples=400, deadline=None)
@given(MODELFILES)
def test_parse_of_render_is_identity(m: Modelfile) -> None:
    if any(_unquotable(s) for s in _strings(m)):
        event("unrepresentable")
        with pytest.raises(ModelfileError, match='a line ends with """'):
            m.render()
        return
    text = m.render()
    assert parse(text) == m
    assert parse(text).render() == text


# --- C12: from arbitrary (valid) source text ------------------------------------------------

NAMES = st.sampled_from(["FROM", "SYSTEM", "TEMPLATE", "LICENSE", "ADAPTER", "MESSAGE user",
                         "MESSAGE assistant", "PARAMETER stop", "PARAMETER top_k",
                         "PARAMETER temperature", "PARAMETER use_mmap"])  # fmt: skip
VALUES = {
    "PARAMETER top_k": st.integers(-5, 99).map(str),
    "PARAMETER temperature": st.sampled_from(["0.7", "1", "1e-3", ".5", '"0.25"']),
    "PARAMETER use_mmap": st.sampled_from(["true", "False", "0", "T"]),
}


@st.composite
def _argument(draw: st.DrawFn, name: str) -> str:
    if name in VALUES:
        return draw(VALUES[name])
    text = draw(NONEMPTY if name in ("FROM", "ADAPTER") else TEXT)
    style = draw(st.sampled_from(["bare", "double", "triple"]))
    if style == "bare":
        text = text.split("\n")[0].strip()
        return text if text and not text.startswith('"') else "plain"
    if style == "double":
        return '"' + text.replace('"', "'") + '"'
    return '"""' + text.replace('"""', "'''") + '"""'


@st.composite
def sources(draw: st.DrawFn) -> str:
    lines = [f"{draw(st.sampled_from(['FROM', 'from', 'From']))} {draw(_argument('FROM'))}"]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["instruction", "instruction", "comment", "blank"]))
        if kind == "comment":
            lines.append(draw(st.sampled_from(["# c", '  # """ not a quote', "#"])))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "   ", "\t"])))
        else:
            name = draw(NAMES)
            written = (
                name
                if draw(st.booleans())
                else name.split(" ")[0].lower() + name[len(name.split(" ")[0]) :]
            )
            sep = draw(st.sampled_from([" ", "\t", "  "]))
            lines.append(f"{written}{sep}{draw(_argument(name))}")
    lines = draw(st.permutations(lines))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(sources())
def test_parse_render_parse_is_stable(source: str) -> None:
    try:
        first = parse(source)
    except ModelfileError:
        assume(False)
        raise
    # whatever a Modelfile can say, render can write back
    assert parse(first.render()) == first


JUNK = st.lists(st.one_of(TEXT, NAMES, st.text(max_size=5)), max_size=12).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300), JUNK, JUNK.map(str.encode)))
def test_any_input_parses_or_raises_modelfile_error(data: str | bytes) -> None:
    try:
        m = parse(data)
    except ModelfileError as exc:
        assert exc.reason
        return
    assert parse(m.render()) == m

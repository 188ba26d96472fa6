"""Shared conformance cases: every Ollama template × conversation must render byte for byte.

The cases live outside the repository, in `shared/conformance/templates/` (see its README.md);
the whole module is skipped when that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.template.ollama import render_prompt

CONFORMANCE = Path(__file__).parents[2] / ".." / "shared" / "conformance" / "templates"

# README.md: for these templates one trailing space of the output is dropped before comparing.
TRAILING_SPACE_DROPPED = {"chatqa", "llama2-chat", "mistral-instruct", "openchat", "vicuna"}

# README.md: each case is named by its roles joined with "-"; these are the messages.
CONTENTS = {
    "system": ["You are a helpful assistant."],
    "user": ["Hello, how are you?", "I'd like to show off how chat templating works!"],
    "assistant": ["I'm doing great. How can I help you today?"],
}


def conversation(case: str) -> list[dict[str, str]]:
    used = {role: 0 for role in CONTENTS}
    messages = []
    for role in case.split("-"):
        if role not in CONTENTS or used[role] >= len(CONTENTS[role]):
            pytest.fail(f"conformance case {case!r} is not described in the README")
        messages.append({"role": role, "content": CONTENTS[role][used[role]]})
        used[role] += 1
    return messages


def cases() -> list[tuple[str, str]]:
    if not CONFORMANCE.is_dir():
        return []
    return [
        (template.stem, expected.name)
        for template in sorted(CONFORMANCE.glob("*.gotmpl"))
        for expected in sorted((CONFORMANCE / "expected" / template.stem).iterdir())
    ]


pytestmark = pytest.mark.skipif(
    not CONFORMANCE.is_dir(), reason=f"conformance cases not found at {CONFORMANCE}"
)


def test_every_template_has_expected_outputs() -> None:
    templates = sorted(p.stem for p in CONFORMANCE.glob("*.gotmpl"))
    assert templates
    for name in templates:
        assert any((CONFORMANCE / "expected" / name).iterdir()), name


@pytest.mark.parametrize(("name", "case"), cases())
def test_template_renders_expected_bytes(name: str, case: str) -> None:
    template = (CONFORMANCE / f"{name}.gotmpl").read_text(encoding="utf-8")
    expected = (CONFORMANCE / "expected" / name / case).read_bytes()
    rendered = render_prompt(template, conversation(case)).encode("utf-8")
    if name in TRAILING_SPACE_DROPPED and rendered.endswith(b" "):
        rendered = rendered[:-1]
    assert rendered == expected

"""The editor's `/api/create` fields: the shared plan, and the line a path error names."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.client.create_plan import plan_create
from corral.errors import ModelfileError
from corral.modelfile import parse
from corral.tui.create_fields import error_line


def test_fields_from_a_named_model(tmp_path: Path) -> None:
    plan = plan_create(
        parse(
            "FROM smollm2:135m\nPARAMETER temperature 0.2\nSYSTEM Be brief.\n"
            "MESSAGE user hi\nLICENSE MIT\n"
        ),
        tmp_path,
    )
    assert plan.uploads == []
    assert plan.body({}) == {
        "from": "smollm2:135m",
        "system": "Be brief.",
        "parameters": {"temperature": 0.2},
        "messages": [{"role": "user", "content": "hi"}],
        "license": ["MIT"],
    }


def test_local_files_are_planned_relative_to_the_base(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF-lora")
    plan = plan_create(parse("FROM ./w.gguf\nADAPTER lora.gguf\n"), tmp_path)
    assert plan.uploads == [tmp_path / "w.gguf", tmp_path / "lora.gguf"]
    digests = {tmp_path / "w.gguf": "sha256:a", tmp_path / "lora.gguf": "sha256:b"}
    assert plan.body(digests) == {
        "files": {"w.gguf": "sha256:a"},
        "adapters": {"lora.gguf": "sha256:b"},
    }


@pytest.mark.parametrize(
    ("text", "fragment", "line"),
    [
        ("SYSTEM no base\n", "no FROM", 0),
        ("FROM ./weights.gguf\n", "FROM path './weights.gguf' does not exist", 1),
        ("# c\nFROM model.GGUF\n", "'model.GGUF' does not exist", 2),
        ("FROM smollm2:135m\nSYSTEM x\nADAPTER ./lora.gguf\n", "ADAPTER path", 3),
    ],
)
def test_bad_paths_name_their_line(tmp_path: Path, text: str, fragment: str, line: int) -> None:
    with pytest.raises(ModelfileError) as caught:
        plan_create(parse(text), tmp_path)
    assert fragment in str(caught.value)
    assert error_line(text, caught.value) == line


def test_modelfile_diff() -> None:
    from corral.tui.diff_view import modelfile_diff

    assert modelfile_diff("FROM a\n", "FROM a\n") == ""
    diff = modelfile_diff("FROM a\nSYSTEM x\n", "FROM a\nSYSTEM y\n", "m")
    assert "--- m (saved)" in diff and "-SYSTEM x" in diff and "+SYSTEM y" in diff

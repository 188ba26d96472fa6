"""The editor's `/api/create` fields from a parsed Modelfile."""

from __future__ import annotations

import pytest

from corral.errors import ModelfileError
from corral.modelfile import parse
from corral.tui.create_fields import create_fields


def test_fields_from_a_named_model() -> None:
    fields = create_fields(
        parse(
            "FROM smollm2:135m\nPARAMETER temperature 0.2\nSYSTEM Be brief.\n"
            "MESSAGE user hi\nLICENSE MIT\n"
        )
    )
    assert fields == {
        "from_": "smollm2:135m",
        "system": "Be brief.",
        "parameters": {"temperature": 0.2},
        "messages": [{"role": "user", "content": "hi"}],
        "license": ["MIT"],
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SYSTEM no base\n", "no FROM"),
        ("FROM ./weights.gguf\n", "'./weights.gguf' is a local file"),
        ("FROM model.GGUF\n", "local file"),
        ("FROM smollm2:135m\nADAPTER ./lora.gguf\n", "ADAPTER"),
    ],
)
def test_refused_modelfiles(text: str, fragment: str) -> None:
    with pytest.raises(ModelfileError) as caught:
        create_fields(parse(text))
    assert fragment in str(caught.value)


def test_modelfile_diff() -> None:
    from corral.tui.diff_view import modelfile_diff

    assert modelfile_diff("FROM a\n", "FROM a\n") == ""
    diff = modelfile_diff("FROM a\nSYSTEM x\n", "FROM a\nSYSTEM y\n", "m")
    assert "--- m (saved)" in diff and "-SYSTEM x" in diff and "+SYSTEM y" in diff

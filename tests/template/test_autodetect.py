"""Autodetection maps a GGUF's Jinja chat template to one of Ollama's named Go templates."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

import pytest

from corral.errors import TemplateError
from corral.template import autodetect
from corral.template.autodetect import (
    NamedTemplate,
    detect_template,
    levenshtein,
    named_template,
    template_names,
)

DATA = resources.files("corral.template") / "data"

EXPECTED_NAMES = [
    "alfred", "alpaca", "chatml", "chatqa", "codellama-70b-instruct", "command-r",
    "falcon-instruct", "gemma-instruct", "gemma3-instruct", "granite-instruct", "llama2-chat",
    "llama3-instruct", "magicoder", "mistral-instruct", "openchat", "phi-3", "solar-instruct",
    "starcoder2-instruct", "vicuna", "zephyr",
]  # fmt: skip


def _index() -> list[tuple[str, str]]:
    return [(e["template"], e["name"]) for e in json.loads((DATA / "index.json").read_text())]


def _jinja_names() -> list[tuple[str, str]]:
    pairs = []
    for line in (DATA / "jinja-names.jsonl").read_text().splitlines():
        if line.strip():
            pairs.extend((jinja, name) for name, jinja in json.loads(line).items())
    return pairs


INDEX = _index()
JINJA_NAMES = _jinja_names()


def test_the_shipped_data_covers_every_name() -> None:
    assert template_names() == EXPECTED_NAMES
    assert len(INDEX) == 37
    assert len(JINJA_NAMES) == 35
    referenced = {name for _, name in INDEX} | {name for _, name in JINJA_NAMES}
    assert referenced <= set(template_names())


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_every_shipped_template_loads(name: str) -> None:
    found = named_template(name)
    assert isinstance(found, NamedTemplate)
    assert found.name == name
    assert "{{" in found.template
    assert "\r\n" not in found.template
    assert isinstance(found.parameters, dict)
    stop = found.parameters.get("stop", [])
    assert isinstance(stop, list) and all(isinstance(s, str) and s for s in stop)
    if name != "mistral-instruct":  # Ollama ships no parameters file for it
        assert stop, f"{name} has no stop parameters"


def test_every_parameters_file_belongs_to_a_template_and_there_is_a_notice() -> None:
    names = set(template_names())
    for entry in DATA.iterdir():
        if entry.name.endswith(".json") and entry.name != "index.json":
            assert entry.name.removesuffix(".json") in names, entry.name
    assert "Ollama" in (DATA / "NOTICE").read_text()


@pytest.mark.parametrize(
    ("jinja", "name"), INDEX, ids=[f"{n}-{i}" for i, (_, n) in enumerate(INDEX)]
)
def test_every_index_entry_maps_to_its_name(jinja: str, name: str) -> None:
    found = detect_template(jinja)
    assert found is not None
    assert found.name == name
    assert found == named_template(name)


@pytest.mark.parametrize(
    ("jinja", "name"), JINJA_NAMES, ids=[f"{n}-{i}" for i, (_, n) in enumerate(JINJA_NAMES)]
)
def test_every_jinja_names_entry_maps_to_its_name(jinja: str, name: str) -> None:
    found = detect_template(jinja)
    assert found is not None and found.name == name
    # Ollama's distance rule alone, without the table of exact texts, agrees.
    assert autodetect._closest(jinja) == (name, 0)


@pytest.mark.parametrize(("jinja", "name"), INDEX[::4], ids=[n for _, n in INDEX[::4]])
def test_an_edited_template_still_maps_by_edit_distance(jinja: str, name: str) -> None:
    edited = jinja.replace("message", "msg", 2) + "{# local edit #}"
    assert edited != jinja
    found = detect_template(edited)
    assert found is not None and found.name == name


def test_smollm2_template_maps_to_chatml(smollm2_template: str) -> None:
    found = detect_template(smollm2_template)
    assert found is not None
    assert found.name == "chatml"
    assert found.parameters == {"stop": ["<|im_start|>", "<|im_end|>"]}
    assert found.template == (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
        "{{ .Content }}<|im_end|>\n"
        "{{ end }}<|im_start|>assistant\n"
    )
    match = autodetect._closest(smollm2_template)
    assert match is not None and match[0] == "chatml" and 0 < match[1] < 100


def test_smollm2_gguf_carries_the_template_we_test(
    smollm2_gguf: Path, smollm2_template: str
) -> None:
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(smollm2_gguf))
    field = reader.fields["tokenizer.chat_template"]
    text = bytes(field.parts[field.data[0]]).decode("utf-8")
    assert text == smollm2_template
    found = detect_template(text)
    assert found is not None and found.name == "chatml"


def test_gemma3_template_maps_to_gemma3_instruct(gemma3_template: str) -> None:
    found = detect_template(gemma3_template)
    assert found is not None
    assert found.name == "gemma3-instruct"
    assert found.parameters == {"stop": ["<end_of_turn>"], "temperature": 0.1}
    assert found.template.startswith("{{- range $i, $_ := .Messages }}")


@pytest.mark.parametrize(
    "jinja",
    [
        "",
        "{{ messages | length }} messages",
        "{% for m in messages %}[[{{ m.role | upper }}]] {{ m.content }}\n{% endfor %}>>> ",
        "x" * 5000,
    ],
)
def test_an_unrelated_template_maps_to_none(jinja: str) -> None:
    assert detect_template(jinja) is None
    assert autodetect._closest(jinja) is None


def test_the_threshold_is_a_distance_under_100() -> None:
    command_r = next(jinja for jinja, name in INDEX if name == "command-r")
    near = detect_template(command_r + "Z" * 99)
    assert near is not None and near.name == "command-r"
    assert detect_template(command_r + "Z" * 100) is None


def test_a_tie_goes_to_the_first_index_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    table = (("abcd", "alpaca"), ("abce", "chatml"), ("abxx", "zephyr"))
    monkeypatch.setattr(autodetect, "_index", lambda: table)
    assert autodetect._closest("abcz") == ("alpaca", 1)
    assert autodetect._closest("abce") == ("chatml", 0)
    assert autodetect._closest("abxy") == ("zephyr", 1)


def test_named_template_rejects_an_unknown_name() -> None:
    with pytest.raises(TemplateError, match=r'unknown template name "nope"'):
        named_template("nope")
    with pytest.raises(TemplateError):
        named_template("../index")


def test_named_template_returns_parameters_the_caller_may_change() -> None:
    first = named_template("chatml")
    first.parameters["stop"].append("changed")
    assert named_template("chatml").parameters == {"stop": ["<|im_start|>", "<|im_end|>"]}


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("héllo", "hello", 1),  # counted in code points, as Go counts runes
        ("日本語", "日本", 1),
        ("a" * 300, "b" * 300, 300),
    ],
)
def test_levenshtein_known_distances(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def _reference_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = row
    return previous[-1]


def test_levenshtein_agrees_with_the_textbook_algorithm() -> None:
    rng = random.Random(20240611)
    for _ in range(500):
        a = "".join(rng.choice("ab{}%é\n") for _ in range(rng.randint(0, 90)))
        b = "".join(rng.choice("ab{}%é\n") for _ in range(rng.randint(0, 90)))
        assert levenshtein(a, b) == _reference_distance(a, b), (a, b)

"""Model names: Ollama's grammar, defaults, display forms and rejection of unsafe input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from corral.errors import InvalidModelName
from corral.names import (
    DEFAULT_HOST,
    DEFAULT_NAMESPACE,
    DEFAULT_TAG,
    ModelName,
    is_valid_part,
)

# text -> (host, namespace, model, tag, scheme, display, full)
VALID = [
    ("llama3.2", DEFAULT_HOST, "library", "llama3.2", "latest", "https", "llama3.2:latest"),
    ("llama3.2:1b", DEFAULT_HOST, "library", "llama3.2", "1b", "https", "llama3.2:1b"),
    ("user/m", DEFAULT_HOST, "user", "m", "latest", "https", "user/m:latest"),
    ("user/m:v2", DEFAULT_HOST, "user", "m", "v2", "https", "user/m:v2"),
    ("host.io/ns/m:tag", "host.io", "ns", "m", "tag", "https", "host.io/ns/m:tag"),
    (
        "localhost:5000/ns/m",
        "localhost:5000",
        "ns",
        "m",
        "latest",
        "https",
        "localhost:5000/ns/m:latest",
    ),
    (
        "localhost:5000/ns/m:v1",
        "localhost:5000",
        "ns",
        "m",
        "v1",
        "https",
        "localhost:5000/ns/m:v1",
    ),
    (
        "http://localhost:5000/ns/m:v1",
        "localhost:5000",
        "ns",
        "m",
        "v1",
        "http",
        "localhost:5000/ns/m:v1",
    ),
    ("https://host.io/ns/m", "host.io", "ns", "m", "latest", "https", "host.io/ns/m:latest"),
    ("HTTPS://host.io/ns/m", "host.io", "ns", "m", "latest", "https", "host.io/ns/m:latest"),
    (
        "registry.ollama.ai/library/qwen3:8b",
        DEFAULT_HOST,
        "library",
        "qwen3",
        "8b",
        "https",
        "qwen3:8b",
    ),
    ("registry.ollama.ai/user/m:t", DEFAULT_HOST, "user", "m", "t", "https", "user/m:t"),
    (
        "REGISTRY.OLLAMA.AI/LIBRARY/Mistral:Q4_K_M",
        "REGISTRY.OLLAMA.AI",
        "LIBRARY",
        "Mistral",
        "Q4_K_M",
        "https",
        "Mistral:Q4_K_M",
    ),
    (
        "_m_/x-y.z:3b-instruct-q4_K_M",
        DEFAULT_HOST,
        "_m_",
        "x-y.z",
        "3b-instruct-q4_K_M",
        "https",
        "_m_/x-y.z:3b-instruct-q4_K_M",
    ),
    (
        "other.host/library/m",
        "other.host",
        "library",
        "m",
        "latest",
        "https",
        "other.host/library/m:latest",
    ),
    ("a..b", DEFAULT_HOST, "library", "a..b", "latest", "https", "a..b:latest"),
]


@pytest.mark.parametrize(("text", "host", "namespace", "model", "tag", "scheme", "display"), VALID)
def test_parse_fills_defaults_and_keeps_case(
    text: str, host: str, namespace: str, model: str, tag: str, scheme: str, display: str
) -> None:
    name = ModelName.parse(text)
    assert (name.host, name.namespace, name.model, name.tag, name.scheme) == (
        host,
        namespace,
        model,
        tag,
        scheme,
    )
    assert name.display == display
    assert str(name) == display
    assert name.full == f"{host}/{namespace}/{model}:{tag}"


def test_full_spells_out_every_part() -> None:
    assert ModelName.parse("llama3.2").full == "registry.ollama.ai/library/llama3.2:latest"
    assert DEFAULT_NAMESPACE == "library" and DEFAULT_TAG == "latest"


def test_key_ignores_case_but_not_content() -> None:
    a = ModelName.parse("Registry.Ollama.AI/Library/Llama3.2:LATEST")
    b = ModelName.parse("llama3.2")
    assert a.key() == b.key() == ("registry.ollama.ai", "library", "llama3.2", "latest")
    assert a.same_as(b)
    assert a != b  # the spelling is kept
    assert ModelName.parse("llama3.2:1b").key() != b.key()


def test_scheme_is_not_part_of_identity() -> None:
    assert ModelName.parse("http://h.io/ns/m").key() == ModelName.parse("h.io/ns/m").key()


INVALID = [
    "",
    ":",
    "/",
    "m:",
    ":t",
    "/m",
    "ns/",
    "ns/:t",
    "a//m",
    "h//m",
    "//m",
    "h/ns/m/x",  # host "h/ns"
    "..",
    "../m",
    "ns/..",
    "../../etc/passwd",
    "h/../m",
    "m/..:t",
    "m:..",
    ".m",
    "m:.t",
    "-m",
    "m:-t",
    "ns/.hidden",
    "a\\b",
    "..\\..\\x",
    "ns\\m",
    "m\x00",
    "m:t\x00",
    "\x00",
    "m\n",
    " m",
    "m ",
    "mé",
    "\u017f",  # LATIN SMALL LETTER LONG S: upper() gives "S"
    "\u212a",  # KELVIN SIGN: casefolds to "k"
    "m:t:t",
    "m@sha256:abc",
    "m+build",
    "host.io/m",  # the namespace cannot hold a dot
    "h/n.s/m",
    "h/ns:1/m",  # ':' only in the host
    "ftp://h/ns/m",
    "file://h/ns/m",
    "://h/ns/m",
    "https://m",
    "https://ns/m",
    "https:///ns/m",
    "https://h/ns/m/",
    "m" * 81,
    "m:" + "t" * 81,
    "n" * 81 + "/m",
    "h" * 351 + "/ns/m",
    "m?x",
    "m*",
    "m%2e",
    "~/m",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_names_are_rejected_with_the_name_in_the_message(text: str) -> None:
    with pytest.raises(InvalidModelName) as info:
        ModelName.parse(text)
    assert str(info.value) == f'invalid model name "{text}"'
    assert info.value.status == 400


def test_longest_parts_are_accepted() -> None:
    name = ModelName.parse("h" * 350 + "/" + "n" * 80 + "/" + "m" * 80 + ":" + "t" * 80)
    assert len(name.host) == 350
    assert (len(name.namespace), len(name.model), len(name.tag)) == (80, 80, 80)


def test_huge_input_is_truncated_in_the_message() -> None:
    with pytest.raises(InvalidModelName) as info:
        ModelName.parse("x" * 100_000)
    assert len(str(info.value)) < 1100


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidModelName):
        ModelName.parse(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "parts",
    [
        ("h", "..", "m", "t"),
        ("h", "ns", "../x", "t"),
        ("h", "ns", "m", ""),
        ("h/x", "ns", "m", "t"),
        ("h", "ns", "m", "t\x00"),
    ],
)
def test_direct_construction_is_validated(parts: tuple[str, str, str, str]) -> None:
    with pytest.raises(InvalidModelName):
        ModelName(*parts)


def test_direct_construction_rejects_bad_scheme() -> None:
    with pytest.raises(InvalidModelName):
        ModelName("h", "ns", "m", "t", scheme="ftp")


def test_with_tag_validates() -> None:
    name = ModelName.parse("m")
    assert name.with_tag("1b").display == "m:1b"
    with pytest.raises(InvalidModelName):
        name.with_tag("../x")


def test_is_valid_part_uses_ascii_only() -> None:
    assert is_valid_part("model", "abc_1.2-x")
    assert not is_valid_part("model", "٣")  # Arabic-Indic digit: isdigit() is True
    assert not is_valid_part("model", "ａ")  # fullwidth letter
    assert not is_valid_part("namespace", "a.b")
    assert is_valid_part("host", "a.b:80")
    assert not is_valid_part("tag", "a:b")


# -- properties --------------------------------------------------------------------------

_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"


def _part(rest: str, max_size: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, b: a + b,
        st.sampled_from(_FIRST),
        st.text(alphabet=_FIRST + rest, max_size=max_size - 1),
    )


names = st.builds(
    ModelName,
    host=_part(".:-", 60),
    namespace=_part("-", 30),
    model=_part(".-", 30),
    tag=_part(".-", 30),
)


@given(names)
def test_full_and_display_parse_back_to_the_same_name(name: ModelName) -> None:
    assert ModelName.parse(name.full) == name
    assert ModelName.parse(name.display) == name
    assert ModelName.parse(f"http://{name.full}").key() == name.key()


@given(names)
def test_key_is_case_insensitive(name: ModelName) -> None:
    swapped = ModelName(
        name.host.swapcase(), name.namespace.swapcase(), name.model.swapcase(), name.tag.swapcase()
    )
    assert swapped.key() == name.key()


@settings(max_examples=300)
@given(st.text(max_size=60) | st.text(alphabet="./\\:-_aZ9\x00é", max_size=30))
def test_any_text_parses_to_a_path_inside_the_root_or_is_rejected(text: str) -> None:
    root = Path("/models/manifests")
    try:
        name = ModelName.parse(text)
    except InvalidModelName:
        return
    path = os.path.normpath(root.joinpath(*name.parts))
    assert path.startswith(str(root) + os.sep)
    assert len(Path(path).relative_to(root).parts) == 4
    assert all(part.isascii() and not part.startswith(".") for part in name.parts)

"""`format` on native generate and chat: JSON and JSON schemas, validated with `jsonschema`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

GREEDY = {"temperature": 0, "seed": 3, "num_predict": 160}

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0},
        "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
        "married": {"type": "boolean"},
    },
    "required": ["name", "age", "pets", "married"],
    "additionalProperties": False,
}

NESTED = {
    "type": "object",
    "$defs": {
        "Point": {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x", "y"],
        }
    },
    "properties": {
        "label": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 12}]},
        "points": {"type": "array", "items": {"$ref": "#/$defs/Point"}, "minItems": 1,
                   "maxItems": 2},
        "kind": {"const": "polygon"},
    },
    "required": ["label", "points", "kind"],
}  # fmt: skip

LIST = {"type": "array", "items": {"type": "string", "maxLength": 10}, "minItems": 2, "maxItems": 3}


@pytest.mark.parametrize("schema", [PERSON, NESTED, LIST], ids=["person", "nested", "array"])
def test_chat_output_validates_against_the_schema(daemon: Daemon, schema: dict[str, Any]) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.chat(
        model=CATALOG_MODEL,
        messages=[{"role": "user", "content": "Give me an example as JSON."}],
        format=schema,
        options=GREEDY,
    )
    assert response.done_reason == "stop"
    jsonschema.validate(json.loads(response.message.content or ""), schema)


def test_generate_output_validates_and_streams(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    chunks = list(
        client.generate(
            model=CATALOG_MODEL, prompt="Describe a person.", format=PERSON, options=GREEDY,
            stream=True,
        )
    )  # fmt: skip
    text = "".join(c.response for c in chunks)
    assert len(chunks) > 3
    jsonschema.validate(json.loads(text), PERSON)


def test_format_json_gives_a_json_object(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.chat(
        model=CATALOG_MODEL,
        messages=[
            {"role": "user", "content": "JSON for Alice, aged 30."},
            {"role": "assistant", "content": '{"name": "Alice", "age": 30}'},
            {"role": "user", "content": "JSON for Bob, aged 25."},
        ],
        format="json",
        options=GREEDY,
    )
    assert response.done_reason == "stop", response.message.content
    assert isinstance(json.loads(response.message.content or ""), dict)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ({"type": "strnig"}, 'unknown type "strnig" at root-value'),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}}, "points to nothing"),
        ({"type": "array", "minItems": 5, "maxItems": 2}, '"maxItems" 2 is less than'),
        ("yaml", 'invalid format: "yaml"'),
        (42, "invalid format: 42"),
    ],
)
def test_invalid_format_is_400_before_any_model_runs(
    make_daemon: Any, seeded_models: tuple[Any, Any], fmt: Any, message: str
) -> None:
    fresh = make_daemon(seeded_models[0])
    for path, body in [
        ("/api/generate", {"prompt": "hi"}),
        ("/api/chat", {"messages": [{"role": "user", "content": "hi"}]}),
    ]:
        response = httpx.post(
            f"{fresh.url}{path}", json={"model": CATALOG_MODEL, "format": fmt, **body}, timeout=30
        )
        assert response.status_code == 400
        assert message in response.json()["error"]
    assert httpx.get(f"{fresh.url}/api/ps", timeout=10).json()["models"] == []
    assert fresh.runner_pids() == []

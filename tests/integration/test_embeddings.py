"""Embeddings on SmolLM2's mean-pooled hidden states: /api/embed, /api/embeddings, /v1/embeddings.

Driven through the official `ollama` and `openai` packages; SmolLM2 is a decoder, so its
embedding runner pools with mean (its GGUF names no pooling type).
"""

from __future__ import annotations

import base64
import math
import struct

import httpx
import ollama
import openai
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

SMALL = {"num_ctx": 64}
"""A small context so that the truncation tests stay cheap (one runner for these tests)."""
N_EMBD = 576


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (_norm(a) * _norm(b))


def test_embed_batch_is_normalised(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    texts = [
        "The cat sat on the mat.",
        "Stock markets fell sharply today.",
        "The cat sat on the mat.",
    ]
    response = client.embed(model=CATALOG_MODEL, input=texts, options=SMALL)
    vectors = [list(v) for v in response.embeddings]
    assert len(vectors) == 3
    assert all(len(v) == N_EMBD for v in vectors)
    assert all(math.isclose(_norm(v), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-6)
    assert _cosine(vectors[0], vectors[1]) < 0.999
    assert response.prompt_eval_count and response.prompt_eval_count > 10
    assert response.total_duration and response.load_duration is not None


def test_embed_string_and_dimensions(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    full = list(client.embed(model=CATALOG_MODEL, input="hello world", options=SMALL).embeddings[0])
    cut = client.embed(model=CATALOG_MODEL, input="hello world", dimensions=16, options=SMALL)
    short = list(cut.embeddings[0])
    assert len(short) == 16
    assert math.isclose(_norm(short), 1.0, rel_tol=1e-5)
    head = full[:16]
    assert short == pytest.approx([x / _norm(head) for x in head], abs=1e-6)


def test_legacy_embeddings_are_not_normalised(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    raw = list(
        client.embeddings(model=CATALOG_MODEL, prompt="hello world", options=SMALL).embedding
    )
    assert len(raw) == N_EMBD
    assert not math.isclose(_norm(raw), 1.0, rel_tol=1e-3)
    unit = list(client.embed(model=CATALOG_MODEL, input="hello world", options=SMALL).embeddings[0])
    assert _cosine(raw, unit) == pytest.approx(1.0, abs=1e-6)


def test_too_long_input_truncates_by_default_and_fails_without(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    long_text = "word " * 200
    response = client.embed(model=CATALOG_MODEL, input=long_text, options=SMALL)
    assert len(response.embeddings[0]) == N_EMBD
    assert response.prompt_eval_count == 64
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model=CATALOG_MODEL, input=long_text, truncate=False, options=SMALL)
    assert info.value.status_code == 400
    assert info.value.error.startswith("the input length exceeds the context length")


def test_empty_input_only_loads(daemon: Daemon) -> None:
    for value in ("", []):
        response = httpx.post(
            f"{daemon.url}/api/embed",
            json={"model": CATALOG_MODEL, "input": value, "options": SMALL},
            timeout=120,
        )
        assert response.status_code == 200
        assert response.json()["embeddings"] == []
    legacy = httpx.post(
        f"{daemon.url}/api/embeddings",
        json={"model": CATALOG_MODEL, "prompt": "", "options": SMALL},
        timeout=120,
    )
    assert legacy.json() == {"embedding": []}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": CATALOG_MODEL, "input": 42}, 400, "invalid input type"),
        ({"model": CATALOG_MODEL, "input": ["a", 1]}, 400, "invalid input type"),
        ({"model": CATALOG_MODEL, "input": "a", "dimensions": -1}, 400, "dimensions must be"),
        ({"model": CATALOG_MODEL, "input": "a", "truncate": "no"}, 400, '"truncate"'),
        ({"model": "no-such-model", "input": "a"}, 404, 'model "no-such-model" not found'),
        ({"input": "a"}, 400, "model is required"),
    ],
)
def test_embed_bad_input(
    daemon: Daemon, body: dict[str, object], status: int, message: str
) -> None:
    response = httpx.post(f"{daemon.url}/api/embed", json=body, timeout=30)
    assert response.status_code == status
    assert message in response.json()["error"]


def _openai(daemon: Daemon) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{daemon.url}/v1", api_key="unused", max_retries=0)


def test_openai_embeddings_float_and_base64(daemon: Daemon) -> None:
    client = _openai(daemon)
    floats = client.embeddings.create(
        model=CATALOG_MODEL, input=["hello world", "goodbye"], encoding_format="float"
    )
    assert [d.index for d in floats.data] == [0, 1]
    assert len(floats.data[0].embedding) == N_EMBD
    assert math.isclose(_norm(floats.data[0].embedding), 1.0, rel_tol=1e-5)
    assert floats.usage.prompt_tokens > 0
    assert floats.usage.total_tokens == floats.usage.prompt_tokens
    assert floats.model == CATALOG_MODEL
    # The package asks for base64 by default and decodes it itself.
    decoded = client.embeddings.create(model=CATALOG_MODEL, input="hello world")
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    raw = httpx.post(
        f"{daemon.url}/v1/embeddings",
        json={"model": CATALOG_MODEL, "input": "hello world", "encoding_format": "BASE64"},
        timeout=120,
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    values = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert list(values) == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert raw["object"] == "list" and raw["data"][0]["object"] == "embedding"


def test_openai_embeddings_dimensions(daemon: Daemon) -> None:
    response = _openai(daemon).embeddings.create(
        model=CATALOG_MODEL, input="hello", dimensions=32, encoding_format="float"
    )
    vector = response.data[0].embedding
    assert len(vector) == 32
    assert math.isclose(_norm(vector), 1.0, rel_tol=1e-5)


def test_openai_embeddings_errors(daemon: Daemon) -> None:
    client = _openai(daemon)
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="no-such-model", input="a")
    assert missing.value.status_code == 404
    body = missing.value.body
    assert isinstance(body, dict) and body["type"] == "not_found_error"
    for payload, message in [
        ({"model": CATALOG_MODEL, "input": []}, "invalid input"),
        ({"model": CATALOG_MODEL}, "invalid input"),
        (
            {"model": CATALOG_MODEL, "input": "a", "encoding_format": "hex"},
            "Invalid value for 'encoding_format' = hex. Supported values: ['float', 'base64'].",
        ),
    ]:
        response = httpx.post(f"{daemon.url}/v1/embeddings", json=payload, timeout=30)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] is None and error["code"] is None
        assert message in error["message"]

"""`think` and `logprobs`/`top_logprobs` on native generate and chat, with real probabilities."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
THINKER = "thinker:latest"
GREEDY = {"temperature": 0, "seed": 5, "num_predict": 24}
QUESTION = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture(scope="module")
def thinker(daemon: Daemon) -> str:
    """SmolLM2 with a template that opens `<think>` when thinking is on."""
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={
            "model": THINKER,
            "from": CATALOG_MODEL,
            "template": (DATA / "think.gotmpl").read_text().rstrip("\n"),
            "stream": False,
        },
        timeout=60,
    )
    response.raise_for_status()
    return THINKER


def test_thinking_capability_comes_from_the_template(daemon: Daemon, thinker: str) -> None:
    client = ollama.Client(host=daemon.url)
    assert "thinking" in (client.show(thinker).capabilities or [])
    assert "thinking" not in (client.show(CATALOG_MODEL).capabilities or [])


def test_think_on_a_model_that_cannot_think_is_400(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model=CATALOG_MODEL, messages=QUESTION, think=True)
    assert info.value.status_code == 400
    assert info.value.error == f'"{CATALOG_MODEL}" does not support thinking'
    with pytest.raises(ollama.ResponseError, match="does not support thinking"):
        client.generate(model=CATALOG_MODEL, prompt="hi", think="high")
    # think false is fine on any model
    assert client.chat(model=CATALOG_MODEL, messages=QUESTION, think=False, options=GREEDY).done


def test_invalid_think_value_is_400(daemon: Daemon) -> None:
    response = httpx.post(
        f"{daemon.url}/api/chat",
        json={"model": CATALOG_MODEL, "messages": QUESTION, "think": "extreme"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith('invalid think value: "extreme"')


def test_thinking_is_separated_from_the_answer(daemon: Daemon, thinker: str) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.chat(model=thinker, messages=QUESTION, think=True, options=GREEDY)
    assert response.message.thinking
    assert "<think>" not in (response.message.content or "")
    assert "</think>" not in response.message.thinking
    streamed = list(
        client.chat(model=thinker, messages=QUESTION, think=True, options=GREEDY, stream=True)
    )
    assert "".join(c.message.thinking or "" for c in streamed) == response.message.thinking
    assert "".join(c.message.content or "" for c in streamed) == response.message.content


def test_thinking_defaults_on_and_can_be_turned_off(daemon: Daemon, thinker: str) -> None:
    client = ollama.Client(host=daemon.url)
    default = client.chat(model=thinker, messages=QUESTION, options=GREEDY)
    assert default.message.thinking
    off = client.chat(model=thinker, messages=QUESTION, think=False, options=GREEDY)
    assert not off.message.thinking
    assert off.message.content
    rendered = httpx.post(
        f"{daemon.url}/api/chat",
        json={"model": thinker, "messages": QUESTION, "think": False, "_debug_render_only": True},
        timeout=30,
    ).json()["_debug_info"]["rendered_template"]
    assert not rendered.endswith("<think>")


@pytest.mark.parametrize("level", ["low", "medium", "high"])
def test_think_levels_reach_the_template(daemon: Daemon, thinker: str, level: str) -> None:
    response = httpx.post(
        f"{daemon.url}/api/chat",
        json={"model": thinker, "messages": QUESTION, "think": level, "_debug_render_only": True},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["_debug_info"]["rendered_template"].endswith("<think>")


def test_generate_thinking(daemon: Daemon, thinker: str) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.generate(model=thinker, prompt="What is 2+2?", think=True, options=GREEDY)
    assert response.thinking
    assert "<think>" not in response.response


def _check_entries(entries: list[dict[str, object]], top: int) -> None:
    assert entries
    for entry in entries:
        logprob = entry["logprob"]
        assert isinstance(logprob, float) and logprob <= 0.0
        token = entry["token"]
        assert isinstance(token, str)
        assert bytes(entry["bytes"]).decode("utf-8", "replace") == token  # type: ignore[arg-type]
        alts = entry.get("top_logprobs", [])
        assert isinstance(alts, list)
        assert len(alts) == top
        values = [a["logprob"] for a in alts]
        assert values == sorted(values, reverse=True)
        if top:
            assert sum(math.exp(v) for v in values) <= 1.0 + 1e-6
            # Greedy: the sampled token is the most likely one.
            assert alts[0]["token"] == token
            assert math.isclose(alts[0]["logprob"], logprob, rel_tol=1e-6)


def test_generate_logprobs_are_real_probabilities(daemon: Daemon) -> None:
    response = httpx.post(
        f"{daemon.url}/api/generate",
        json={
            "model": CATALOG_MODEL,
            "prompt": "The capital of France is",
            "raw": True,
            "logprobs": True,
            "top_logprobs": 3,
            "stream": False,
            "options": GREEDY,
        },
        timeout=120,
    ).json()
    entries = response["logprobs"]
    _check_entries(entries, 3)
    assert "".join(e["token"] for e in entries) == response["response"]
    assert len(entries) == response["eval_count"] or len(entries) == response["eval_count"] - 1


def test_chat_logprobs_stream_with_each_chunk(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    chunks = list(
        client.chat(
            model=CATALOG_MODEL,
            messages=QUESTION,
            logprobs=True,
            top_logprobs=2,
            options=GREEDY,
            stream=True,
        )
    )
    entries = [lp for c in chunks for lp in (c.logprobs or [])]
    assert entries and all(lp.logprob <= 0 for lp in entries)
    assert all(len(lp.top_logprobs or []) == 2 for lp in entries)
    text = "".join(c.message.content or "" for c in chunks)
    assert "".join(lp.token for lp in entries) == text
    with httpx.stream(
        "POST",
        f"{daemon.url}/api/chat",
        json={"model": CATALOG_MODEL, "messages": QUESTION, "logprobs": True, "options": GREEDY},
        timeout=120,
    ) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    raw = [e for line in lines if not line["done"] for e in line.get("logprobs", [])]
    _check_entries([{**e, "top_logprobs": e.get("top_logprobs", [])} for e in raw], 0)


def test_logprobs_absent_unless_asked(daemon: Daemon) -> None:
    response = httpx.post(
        f"{daemon.url}/api/chat",
        json={"model": CATALOG_MODEL, "messages": QUESTION, "stream": False, "options": GREEDY},
        timeout=120,
    ).json()
    assert "logprobs" not in response


@pytest.mark.parametrize("value", [21, -1, "3", 2.5])
def test_top_logprobs_out_of_range_is_400(daemon: Daemon, value: object) -> None:
    response = httpx.post(
        f"{daemon.url}/api/generate",
        json={"model": CATALOG_MODEL, "prompt": "hi", "logprobs": True, "top_logprobs": value},
        timeout=30,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    if isinstance(value, int):
        assert error == "top_logprobs must be between 0 and 20"
    else:
        assert '"top_logprobs"' in error

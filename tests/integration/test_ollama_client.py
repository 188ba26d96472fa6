"""Generate and chat through the official `ollama` package against a real daemon and SmolLM2."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

QUESTION = "What is the capital of France? Answer in one word."
GREEDY = {"temperature": 0, "num_predict": 24, "seed": 7}


def _assert_metrics(response: ollama.GenerateResponse | ollama.ChatResponse) -> None:
    assert response.done is True
    assert response.done_reason in {"stop", "length"}
    assert response.prompt_eval_count and response.prompt_eval_count > 0
    assert response.eval_count and response.eval_count > 0
    assert response.total_duration and response.load_duration
    assert response.total_duration >= response.load_duration > 0
    assert response.prompt_eval_duration and response.prompt_eval_duration > 0
    assert response.eval_duration and response.eval_duration > 0


def test_pull_from_catalog_reports_progress(
    seeded_models: tuple[object, list[dict[str, object]]],
) -> None:
    events = seeded_models[1]
    statuses = [e["status"] for e in events]
    assert statuses[0] == "pulling manifest"
    assert "verifying sha256 digest" in statuses
    assert statuses[-2:] == ["writing manifest", "success"]
    progress = [e for e in events if e.get("completed")]
    assert progress and progress[-1]["completed"] == progress[-1]["total"]


def test_list_shows_pulled_model(daemon: Daemon) -> None:
    models = ollama.Client(host=daemon.url).list().models
    entry = next(m for m in models if m.model == CATALOG_MODEL)
    assert entry.size and entry.size > 90_000_000
    assert entry.details and entry.details.family == "llama"
    assert entry.details.quantization_level == "Q4_1"
    assert entry.digest and len(entry.digest) == 64


def test_generate_not_streaming(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.generate(model=CATALOG_MODEL, prompt=QUESTION, options=GREEDY)
    assert "paris" in response.response.lower()
    _assert_metrics(response)
    assert response.context and all(isinstance(t, int) for t in response.context)


def test_generate_streaming_matches_not_streaming(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    whole = client.generate(model=CATALOG_MODEL, prompt=QUESTION, options=GREEDY)
    chunks = list(
        client.generate(model=CATALOG_MODEL, prompt=QUESTION, options=GREEDY, stream=True)
    )
    assert len(chunks) > 2
    assert all(not c.done for c in chunks[:-1])
    assert "".join(c.response for c in chunks) == whole.response
    _assert_metrics(chunks[-1])
    assert chunks[-1].eval_count == whole.eval_count
    assert chunks[-1].context == whole.context


@pytest.mark.parametrize(
    ("path", "body", "keys"),
    [
        ("/api/generate", {"prompt": QUESTION}, ["model", "created_at", "response", "done"]),
        (
            "/api/chat",
            {"messages": [{"role": "user", "content": QUESTION}]},
            ["model", "created_at", "message", "done"],
        ),
    ],
)
def test_streamed_chunks_are_compact_json_in_ollamas_key_order(
    daemon: Daemon, path: str, body: dict[str, object], keys: list[str]
) -> None:
    request = {"model": CATALOG_MODEL, "options": GREEDY, **body}
    with httpx.stream("POST", f"{daemon.url}{path}", json=request, timeout=120) as response:
        lines = [line for line in response.iter_bytes() for line in line.splitlines() if line]
    events = [json.loads(line) for line in lines]
    assert len(events) > 3 and events[-1]["done"] is True
    for line, event in zip(lines[:-1], events[:-1], strict=True):
        assert list(event) == keys
        assert event["done"] is False and event["model"] == CATALOG_MODEL
        assert line == json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    if "message" in keys:
        assert all(list(e["message"]) == ["role", "content"] for e in events[:-1])
    stamps = [datetime.fromisoformat(e["created_at"]) for e in events]
    assert stamps == sorted(stamps)


def test_an_http_1_0_client_gets_the_stream_to_the_end_of_the_connection(daemon: Daemon) -> None:
    whole = ollama.Client(host=daemon.url).generate(
        model=CATALOG_MODEL, prompt=QUESTION, options=GREEDY
    )
    body = json.dumps({"model": CATALOG_MODEL, "prompt": QUESTION, "options": GREEDY}).encode()
    host, port = daemon.host.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(
            b"POST /api/generate HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (daemon.host.encode(), len(body), body)
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and b"chunked" not in head.lower()
    events = [json.loads(line) for line in payload.splitlines()]
    assert events[-1]["done"] is True and events[-1]["eval_count"] == whole.eval_count
    assert "".join(e["response"] for e in events) == whole.response


def test_chat_not_streaming_and_streaming(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    messages = [{"role": "user", "content": QUESTION}]
    whole = client.chat(model=CATALOG_MODEL, messages=messages, options=GREEDY)
    assert whole.message.role == "assistant"
    assert "paris" in (whole.message.content or "").lower()
    _assert_metrics(whole)
    chunks = list(client.chat(model=CATALOG_MODEL, messages=messages, options=GREEDY, stream=True))
    assert "".join(c.message.content or "" for c in chunks) == whole.message.content
    _assert_metrics(chunks[-1])


def test_chat_follows_system_prompt_and_history(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    messages = [
        {"role": "system", "content": "You are a pirate. Always answer starting with 'Arr'."},
        {"role": "user", "content": "Hello, who are you?"},
    ]
    first = client.chat(model=CATALOG_MODEL, messages=messages, options=GREEDY)
    assert first.message.content
    messages += [
        {"role": "assistant", "content": first.message.content},
        {"role": "user", "content": "Say that again."},
    ]
    second = client.chat(model=CATALOG_MODEL, messages=messages, options=GREEDY)
    assert second.message.content
    # The whole history is in the prompt, so the second prompt is longer than the first.
    assert (second.prompt_eval_count or 0) >= 1


def test_num_predict_ends_with_length(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    response = client.generate(
        model=CATALOG_MODEL,
        prompt="Count from one to one hundred.",
        options={"temperature": 0, "num_predict": 5},
    )
    assert response.done_reason == "length"
    assert response.eval_count == 5


def test_stop_sequence_is_not_in_output(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    free = client.generate(model=CATALOG_MODEL, prompt=QUESTION, options=GREEDY).response
    word = free.strip().split()[0]
    stopped = client.generate(
        model=CATALOG_MODEL, prompt=QUESTION, options={**GREEDY, "stop": [word]}
    )
    assert word not in stopped.response
    assert stopped.done_reason == "stop"


def test_format_json_gives_json(daemon: Daemon) -> None:
    import json

    client = ollama.Client(host=daemon.url)
    response = client.generate(
        model=CATALOG_MODEL,
        prompt="Give me a JSON object describing a cat.",
        format="json",
        options={"temperature": 0, "num_predict": 64},
    )
    if response.done_reason == "stop":
        assert isinstance(json.loads(response.response), dict)
    else:
        assert response.response.lstrip().startswith("{")


def test_load_and_unload_with_empty_prompt(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    loaded = client.generate(model=CATALOG_MODEL, prompt="")
    assert loaded.done and loaded.done_reason == "load"
    running = client.ps().models
    assert any(m.model == CATALOG_MODEL for m in running)
    entry = next(m for m in running if m.model == CATALOG_MODEL)
    assert entry.size and entry.expires_at is not None
    assert entry.context_length and entry.context_length > 0
    unloaded = client.generate(model=CATALOG_MODEL, prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert not any(m.model == CATALOG_MODEL for m in client.ps().models)
    assert daemon.runner_pids() == []


def test_keep_alive_duration_string_sets_expiry(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    client.generate(model=CATALOG_MODEL, prompt="", keep_alive="10m")
    entry = next(m for m in client.ps().models if m.model == CATALOG_MODEL)
    assert entry.expires_at is not None
    from datetime import UTC, datetime

    remaining = (entry.expires_at - datetime.now(UTC)).total_seconds()
    assert 8 * 60 < remaining <= 10 * 60 + 5


def test_debug_render_only_returns_prompt(daemon: Daemon) -> None:
    body = {
        "model": CATALOG_MODEL,
        "messages": [{"role": "user", "content": "Hi there"}],
        "stream": False,
        "_debug_render_only": True,
    }
    data = httpx.post(f"{daemon.url}/api/chat", json=body, timeout=30).json()
    rendered = data["_debug_info"]["rendered_template"]
    assert "<|im_start|>user\nHi there<|im_end|>" in rendered
    assert rendered.endswith("<|im_start|>assistant\n")


def test_unknown_model_is_404_with_hint(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "no-such-model" not found, try pulling it first'

"""One runner, many requests: batched chats and prompt caching across the turns of a chat."""

from __future__ import annotations

import concurrent.futures
import ctypes
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

QUESTIONS = [
    ("What is the capital of France?", 0.0, "Paris"),
    ("What is the capital of Italy?", 0.0, "Rome"),
    ("Write a short poem about the sea.", 0.9, None),
    ("Tell me a fact about cats.", 0.9, None),
]


def _chat(daemon: Daemon, question: str, temperature: float, seed: int) -> str:
    response = ollama.Client(host=daemon.url, timeout=300).chat(
        model=CATALOG_MODEL,
        messages=[{"role": "user", "content": question}],
        options={"temperature": temperature, "seed": seed, "num_predict": 24},
    )
    assert response.done
    return response.message.content or ""


def test_four_concurrent_chats_match_what_each_says_alone(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    daemon = make_daemon(seeded_models[0], CORRAL_NUM_PARALLEL="4", CORRAL_NUM_THREAD="1")
    alone = [_chat(daemon, q, t, seed=100 + i) for i, (q, t, _) in enumerate(QUESTIONS)]
    ps = ollama.Client(host=daemon.url).ps().models
    assert len(ps) == 1
    start = threading.Barrier(len(QUESTIONS))

    def together(i: int) -> str:
        question, temperature, _ = QUESTIONS[i]
        start.wait()
        return _chat(daemon, question, temperature, seed=100 + i)

    with concurrent.futures.ThreadPoolExecutor(len(QUESTIONS)) as pool:
        batched = list(pool.map(together, range(len(QUESTIONS))))
    assert batched == alone
    for text, (_, _, expected) in zip(batched, QUESTIONS, strict=True):
        assert text
        if expected:
            assert expected in text
    assert len(set(batched)) == len(batched)  # four different answers, none mixed up


# -- prompt caching across the turns of one chat ----------------------------------------------


@pytest.fixture(scope="module")
def vocab(smollm2_gguf: Path) -> Iterator[Callable[[str], list[int]]]:
    """Tokenize as the runner does (special tokens parsed), from a vocabulary-only load."""
    import llama_cpp as ll

    quiet = ll.llama_log_callback(lambda *_: None)
    ll.llama_log_set(quiet, ctypes.c_void_p(0))
    ll.llama_backend_init()
    params = ll.llama_model_default_params()
    params.vocab_only = True
    model = ll.llama_model_load_from_file(str(smollm2_gguf).encode(), params)
    assert model
    vocab = ll.llama_model_get_vocab(model)

    def tokenize(text: str) -> list[int]:
        data = text.encode()
        arr = (ll.llama_token * (len(data) + 8))()
        n = ll.llama_tokenize(vocab, data, len(data), arr, len(arr), True, True)
        assert n >= 0
        return list(arr[:n])

    yield tokenize
    ll.llama_model_free(model)


def test_each_chat_turn_evaluates_only_its_new_tokens(
    make_daemon: Callable[..., Daemon],
    seeded_models: tuple[Path, object],
    vocab: Callable[[str], list[int]],
) -> None:
    daemon = make_daemon(seeded_models[0], CORRAL_NUM_THREAD="1")
    url = f"{daemon.url}/api/chat"
    options = {"temperature": 0, "num_predict": 12}
    messages: list[dict[str, str]] = []
    previous: tuple[int, int] | None = None  # prompt tokens and eval_count of the last turn
    for turn in range(10):
        messages.append({"role": "user", "content": f"Turn {turn}: name a number."})
        body: dict[str, Any] = {"model": CATALOG_MODEL, "messages": messages, "options": options}
        rendered = httpx.post(url, json={**body, "_debug_render_only": True}, timeout=60)
        n_prompt = len(vocab(rendered.json()["_debug_info"]["rendered_template"]))
        reply = httpx.post(url, json={**body, "stream": False}, timeout=300).json()
        if previous is None:
            assert reply["prompt_eval_count"] == n_prompt
        else:
            # The KV cache holds the last prompt and every reply token but the last sampled
            # one (never decoded); only what comes after that is evaluated.
            cached = previous[0] + previous[1] - 1
            assert reply["prompt_eval_count"] == n_prompt - cached, f"turn {turn}"
            assert turn < 2 or reply["prompt_eval_count"] < n_prompt // 2
        previous = (n_prompt, reply["eval_count"])
        messages.append({"role": "assistant", "content": reply["message"]["content"]})

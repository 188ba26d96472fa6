"""Context shift, prompt truncation and freed slots, on a real runner with a tiny context."""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runner.test_server import CHATML, Runner, complete, tokenize

pytestmark = pytest.mark.integration

N_CTX = 256  # llama.cpp's smallest context per sequence
STORY = CHATML.format("Tell a story.")
# Forces output that never ends on its own, so only n_predict or the context can stop it.
ENDLESS = 'root ::= "ab " root'


@pytest.fixture(scope="module")
def small(smollm2_gguf: Path) -> Iterator[Runner]:
    """Two sequences of N_CTX tokens each."""
    r = Runner(
        smollm2_gguf,
        "--ctx-size",
        str(N_CTX),
        "--parallel",
        "2",
        "--threads",
        "1",  # the test machine is small and shared; one thread spins least
        "--parent-pid",
        str(os.getpid()),
    )
    try:
        assert r.wait_ready()["n_ctx"] == N_CTX
        yield r
    finally:
        r.stop()


def test_generation_goes_on_past_the_context_by_shifting(small: Runner):
    n_prompt = len(tokenize(small, STORY, add_special=True))
    n_predict = N_CTX - n_prompt + 40
    pieces, final = complete(
        small, prompt=STORY, temperature=0, n_predict=n_predict, grammar=ENDLESS
    )
    assert n_prompt + final["eval_count"] > N_CTX + 30
    assert final["eval_count"] == n_predict
    assert final["done_reason"] == "length"
    text = "".join(pieces)
    assert len(text) >= n_predict  # every token is at least one character
    assert text == ("ab " * n_predict)[: len(text)]


def test_without_shift_a_full_context_ends_with_length(small: Runner):
    n_prompt = len(tokenize(small, STORY, add_special=True))
    _, final = complete(
        small, prompt=STORY, temperature=0, n_predict=500, grammar=ENDLESS, shift=False
    )
    assert final["done_reason"] == "length"
    # The last sampled token is never decoded, so one more than the free cells.
    assert final["eval_count"] == N_CTX - n_prompt + 1


def test_n_predict_minus_2_fills_the_context_and_stops(small: Runner):
    n_prompt = len(tokenize(small, STORY, add_special=True))
    _, final = complete(small, prompt=STORY, temperature=0, n_predict=-2, grammar=ENDLESS)
    assert final["done_reason"] == "length"
    assert final["eval_count"] == N_CTX - n_prompt + 1


def test_a_prompt_longer_than_the_context_is_truncated_keeping_num_keep(small: Runner):
    prompt = "one two three four five six seven eight nine ten " * 60
    n = len(tokenize(small, prompt, add_special=True))
    assert n > N_CTX
    pieces, final = complete(small, prompt=prompt, temperature=0, n_predict=4, num_keep=5)
    assert final["eval_count"] == 4
    # The whole truncated prompt is evaluated: exactly a context's worth of tokens.
    assert final["prompt_eval_count"] == N_CTX
    assert pieces


def test_a_long_prompt_with_truncate_false_gives_400(small: Runner):
    prompt = "hello " * 400
    n = len(tokenize(small, prompt, add_special=True))
    r = httpx.post(
        small.url + "/completion", json={"prompt": prompt, "truncate": False}, timeout=30
    )
    assert r.status_code == 400
    assert r.json()["error"] == (
        f"the prompt ({n} tokens) is longer than the context ({N_CTX} tokens)"
    )


@pytest.mark.parametrize(("field", "value"), [("shift", "yes"), ("truncate", 1)])
def test_shift_and_truncate_must_be_booleans(small: Runner, field: str, value: Any):
    r = httpx.post(small.url + "/completion", json={"prompt": "x", field: value}, timeout=30)
    assert r.status_code == 400
    assert f'"{field}"' in r.json()["error"]


def _stream(runner: Runner, body: dict[str, Any], out: queue.Queue[tuple[str, Any]]) -> None:
    """Stream a completion into `out`: ("piece", text) lines, then ("done", final)."""
    with httpx.stream("POST", runner.url + "/completion", json=body, timeout=120) as r:
        for line in r.iter_lines():
            if not line:
                continue
            obj = json.loads(line)
            if obj.get("done"):
                out.put(("done", obj))
            else:
                out.put(("piece", obj["content"]))


def _drain(events: queue.Queue[tuple[str, Any]]) -> list[tuple[str, Any]]:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


def test_disconnect_frees_its_sequence_while_the_other_goes_on(smollm2_gguf: Path):
    r = Runner(smollm2_gguf, "--ctx-size", "512", "--parallel", "2", "--threads", "1")
    try:
        r.wait_ready()
        # B must run long enough that C can only finish first if it got A's slot.
        body_b = {"prompt": STORY, "temperature": 0, "n_predict": 300, "grammar": ENDLESS}
        b_events: queue.Queue[tuple[str, Any]] = queue.Queue()
        b = threading.Thread(target=_stream, args=(r, body_b, b_events), daemon=True)
        body_a = {"prompt": STORY, "temperature": 0, "n_predict": 400, "grammar": ENDLESS}
        with httpx.stream("POST", r.url + "/completion", json=body_a, timeout=60) as resp:
            lines = resp.iter_lines()
            assert json.loads(next(lines))["content"]
            b.start()
            assert b_events.get(timeout=60)[0] == "piece"  # both sequences are running
            assert json.loads(next(lines))["content"]
        # A's client is gone: its slot must take C now, while B still generates.
        _, final_c = complete(r, prompt=STORY, temperature=0, n_predict=3, timeout=60)
        assert final_c["eval_count"] == 3
        b_so_far = _drain(b_events)
        assert all(kind == "piece" for kind, _ in b_so_far), "B ended before C was served"
        b.join(120)
        assert not b.is_alive()
        kind, final_b = _drain(b_events)[-1]
        assert kind == "done"
        assert final_b["eval_count"] == 300
    finally:
        assert r.stop() == 0

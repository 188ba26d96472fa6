"""Streaming HTTP clients for both servers, timing every chunk on the client side.

corral streams NDJSON from /api/generate and /api/chat; llama-server streams SSE
(`data: {...}`) from /completion. A chunk "with text" is one whose response or content
is not empty; the first and last of them bound the decode interval.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from bench.report import Stream

__all__ = [
    "Completion",
    "anchor_chat",
    "anchor_complete",
    "concurrently",
    "corral_chat",
    "corral_generate",
]

_TIMEOUT = httpx.Timeout(300, connect=5)


@dataclass(frozen=True, slots=True)
class Completion:
    """One streamed completion: client timing, the text and the server's final record."""

    sent: float
    """perf_counter time just before the request was sent."""
    stream: Stream
    text: str
    final: dict[str, Any]

    @property
    def ttft(self) -> float:
        """Seconds from sending the request to the first chunk with text."""
        return self.stream.first - self.sent


def _lines(response: httpx.Response) -> Iterator[str]:
    if response.status_code != 200:
        response.read()
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    for line in response.iter_lines():
        if line:
            yield line


def corral_generate(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    sent: float | None = None,
) -> Completion:
    """POST /api/generate with stream: true; tokens are the daemon's `eval_count`."""
    first = last = 0.0
    parts: list[str] = []
    final: dict[str, Any] = {}
    start = time.perf_counter() if sent is None else sent
    with client.stream("POST", f"{url}/api/generate", json={**body, "stream": True}) as response:
        for line in _lines(response):
            now = time.perf_counter()
            record = json.loads(line)
            if "error" in record:
                raise RuntimeError(f"corral: {record['error']}")
            if record.get("response"):
                parts.append(record["response"])
                first = first or now
                last = now
            if record.get("done"):
                final = record
    tokens = int(final.get("eval_count", 0))
    return Completion(start, Stream(tokens, first, last), "".join(parts), final)


def anchor_complete(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    sent: float | None = None,
) -> Completion:
    """POST llama-server /completion with stream: true; tokens are its `timings.predicted_n`."""
    first = last = 0.0
    parts: list[str] = []
    final: dict[str, Any] = {}
    start = time.perf_counter() if sent is None else sent
    with client.stream("POST", f"{url}/completion", json={**body, "stream": True}) as response:
        for line in _lines(response):
            now = time.perf_counter()
            if not line.startswith("data: "):
                continue
            record = json.loads(line[6:])
            if "error" in record:
                raise RuntimeError(f"llama-server: {record['error']}")
            if record.get("content"):
                parts.append(record["content"])
                first = first or now
                last = now
            if record.get("stop"):
                final = record
    timings = final.get("timings", {})
    tokens = int(timings.get("predicted_n", final.get("tokens_predicted", 0)))
    return Completion(start, Stream(tokens, first, last), "".join(parts), final)


def corral_chat(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/chat without streaming; the daemon's whole response."""
    response = client.post(f"{url}/api/chat", json={**body, "stream": False})
    if response.status_code != 200:
        raise RuntimeError(f"corral /api/chat: HTTP {response.status_code}: {response.text[:500]}")
    return dict(response.json())


def anchor_chat(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST llama-server /v1/chat/completions without streaming; its whole response."""
    response = client.post(f"{url}/v1/chat/completions", json={**body, "stream": False})
    if response.status_code != 200:
        raise RuntimeError(f"llama-server chat: HTTP {response.status_code}: {response.text[:500]}")
    return dict(response.json())


def concurrently(calls: list[Callable[[], Completion]]) -> list[Completion]:
    """Run the calls on one thread each, released together; re-raises the first failure."""
    barrier = threading.Barrier(len(calls))
    results: list[Completion | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]

"""A runner that dies mid-stream ends OpenAI and Anthropic streams with their own error event."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

STORY = [{"role": "user", "content": "Write a very long story about a dragon."}]


def _kill_after_three(daemon: Daemon, path: str, body: dict[str, object]) -> list[str]:
    """Stream `body`, SIGKILL the runner after three data lines, return every SSE block."""
    blocks: list[str] = []
    with httpx.stream("POST", f"{daemon.url}{path}", json=body, timeout=120) as response:
        assert response.status_code == 200
        buffer = ""
        for text in response.iter_text():
            buffer += text
            *done, buffer = buffer.split("\n\n")
            blocks += done
            if len(blocks) >= 3 and daemon.runner_pids():
                for pid in daemon.runner_pids():
                    os.kill(pid, signal.SIGKILL)
    return blocks + ([buffer] if buffer.strip() else [])


def test_runner_crash_mid_stream(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, list[dict[str, object]]]
) -> None:
    daemon = make_daemon(seeded_models[0])
    openai_body = {
        "model": CATALOG_MODEL,
        "messages": STORY,
        "max_tokens": 400,
        "temperature": 0,
        "stream": True,
    }
    blocks = _kill_after_three(daemon, "/v1/chat/completions", openai_body)
    last = json.loads(blocks[-1].removeprefix("data: "))
    assert last["error"]["type"] == "api_error" and "runner" in last["error"]["message"]
    assert "data: [DONE]" not in blocks

    anthropic_body = {"model": CATALOG_MODEL, "messages": STORY, "max_tokens": 400, "stream": True}
    blocks = _kill_after_three(daemon, "/v1/messages", anthropic_body)
    name, data = blocks[-1].split("\n")
    assert name == "event: error"
    error = json.loads(data.removeprefix("data: "))
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert not any(block.startswith("event: message_stop") for block in blocks)

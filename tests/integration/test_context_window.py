"""A prompt longer than num_ctx, through the daemon: truncated by default, 400 with truncate off."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration

LONG = "one two three four five six seven eight nine ten " * 60  # about 600 tokens
OPTIONS = {"num_ctx": 256, "num_predict": 2, "temperature": 0}


def test_a_prompt_longer_than_num_ctx_is_truncated_to_fit(daemon: Daemon) -> None:
    body = {"model": CATALOG_MODEL, "prompt": LONG, "raw": True, "stream": False}
    reply = httpx.post(f"{daemon.url}/api/generate", json={**body, "options": OPTIONS}, timeout=300)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["done"] and data["eval_count"] == 2
    # Ollama keeps num_keep tokens and the newest ones: a whole context is evaluated.
    assert data["prompt_eval_count"] == 256


def test_truncate_false_rejects_a_prompt_longer_than_num_ctx(daemon: Daemon) -> None:
    body = {"model": CATALOG_MODEL, "prompt": LONG, "raw": True, "truncate": False}
    reply = httpx.post(f"{daemon.url}/api/generate", json={**body, "options": OPTIONS}, timeout=300)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error.startswith("the prompt (") and error.endswith(
        "tokens) is longer than the context (256 tokens)"
    )

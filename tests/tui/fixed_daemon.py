"""Fixed daemon answers for snapshot tests: layout only, so no clock, no hardware, no model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from corral.client import AsyncClient
from corral.sessions import SessionStore, StoredMessage
from corral.tui import CorralApp

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

_DETAILS = {"family": "llama", "parameter_size": "134.52M", "quantization_level": "Q4_1"}
ANSWERS: dict[tuple[str, str], Any] = {
    ("GET", "/api/tags"): {
        "models": [
            {
                "name": "smollm2:135m",
                "size": 98_362_432,
                "modified_at": "2025-11-30T10:00:00Z",
                "details": _DETAILS,
            },
            {
                "name": "gemma3:270m",
                "size": 253_000_000,
                "modified_at": "2025-11-29T09:00:00Z",
                "details": {"family": "gemma3", "quantization_level": "Q4_K_M"},
            },
        ]
    },
    ("POST", "/api/show"): {
        "details": _DETAILS,
        "capabilities": ["completion"],
        "parameters": "stop <|im_end|>",
        "template": "{{ .Prompt }}",
        "modelfile": "FROM smollm2:135m\n",
    },
    ("GET", "/api/ps"): {
        "models": [
            {
                "name": "smollm2:135m",
                "size": 180_000_000,
                "size_vram": 0,
                "context_length": 4096,
                "queue_depth": 0,
                "active_requests": 1,
                "expires_at": "2026-01-01T12:04:30Z",
            }
        ]
    },
    ("GET", "/api/system"): {
        "gpus": [
            {
                "index": 0,
                "name": "NVIDIA H200",
                "vram_total": 150_000_000_000,
                "vram_used": 30_000_000_000,
                "utilization": 40,
                "temperature": 51,
            }
        ],
        "memory": {"total": 16_000_000_000, "available": 10_000_000_000},
        "cpu": {"count": 16, "percent": 25.0, "load": [1.0, 1.0, 1.0]},
        "fit": {"model": "smollm2:135m", "num_ctx": 4096, "required": 250_000_000},
    },
}


def _handler(request: httpx.Request) -> httpx.Response:
    answer = ANSWERS.get((request.method, request.url.path))
    if answer is None:
        return httpx.Response(404, json={"error": f"no fixed answer for {request.url.path}"})
    return httpx.Response(200, content=json.dumps(answer).encode())


def fixed_app(tmp_path: Path, *, with_chat: bool = False) -> CorralApp:
    store = SessionStore(tmp_path / "sessions.db")
    if with_chat:
        sid = store.create("smollm2:135m")
        store.append(
            sid,
            [
                StoredMessage("user", "Show me hello world in Python"),
                StoredMessage(
                    "assistant", "Here it is:\n\n```python\nprint('hello world')\n```\n\nDone."
                ),
            ],
        )
    client = AsyncClient("127.0.0.1:9", transport=httpx.MockTransport(_handler))
    return CorralApp(store=store, client=client, poll=3600, clock=lambda: NOW)

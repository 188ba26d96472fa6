"""A model the compatibility tests share: SmolLM2 under a template that takes tools."""

from __future__ import annotations

import httpx

from tests.integration.conftest import CATALOG_MODEL, Daemon

TOOLS_MODEL = "smollm2-tools:latest"

TOOLS_TEMPLATE = (
    "{{ if .Tools }}TOOLS:{{ range .Tools }} {{ .Function.Name }}{{ end }}\n{{ end }}"
    "{{ range .Messages }}{{ .Role }}: {{ .Content }}"
    "{{ range .ToolCalls }}CALL {{ .Function.Name }}{{ end }}"
    "{{ if .ToolCallID }} [{{ .ToolCallID }}]{{ end }}\n{{ end }}assistant:"
)
"""Renders tools, tool calls and tool results visibly, so `_debug_render_only` shows them."""


def create_tools_model(daemon: Daemon) -> str:
    """Create (or recreate) the tools model on `daemon` and return its name."""
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={
            "model": TOOLS_MODEL,
            "from": CATALOG_MODEL,
            "template": TOOLS_TEMPLATE,
            "stream": False,
        },
        timeout=60,
    )
    response.raise_for_status()
    return TOOLS_MODEL

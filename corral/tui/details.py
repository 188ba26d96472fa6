"""The text of the models screen's details pane, from an `/api/show` answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["render_details"]


def _section(title: str, body: str, limit: int = 600) -> str:
    body = body.strip()
    if not body:
        return ""
    if len(body) > limit:
        body = body[:limit] + " …"
    return f"\n{title}\n{body}\n"


def render_details(name: str, shown: Mapping[str, Any]) -> str:
    """Name, details, capabilities, parameters, template, system and license as plain text."""
    details = shown.get("details") or {}
    lines = [name]
    for key in ("family", "parameter_size", "quantization_level", "format"):
        if details.get(key):
            lines.append(f"  {key.replace('_', ' ')}: {details[key]}")
    capabilities = shown.get("capabilities") or []
    if capabilities:
        lines.append(f"  capabilities: {', '.join(map(str, capabilities))}")
    text = "\n".join(lines) + "\n"
    text += _section("parameters", str(shown.get("parameters") or ""))
    text += _section("template", str(shown.get("template") or ""))
    text += _section("system", str(shown.get("system") or ""))
    text += _section("license", str(shown.get("license") or ""), limit=300)
    return text

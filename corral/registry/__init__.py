"""Ollama's registry protocol (Docker Registry v2 style): the pull/push client and a server.

`corral.registry.client` pulls into and pushes from the local store;
`corral.registry.server` is the self-hosted registry (`corral registry serve`).
Both share the wire vocabulary in `corral.registry.protocol`.
"""

from __future__ import annotations

__all__: list[str] = []

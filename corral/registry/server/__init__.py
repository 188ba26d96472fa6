"""The self-hosted registry: storage, access control and the HTTP API."""

from __future__ import annotations

from corral.registry.server.app import STORAGE, create_registry_app, send_blob
from corral.registry.server.auth import AccessPolicy, load_tokens
from corral.registry.server.serve import run_registry
from corral.registry.server.storage import RegistryStorage, Repository

__all__ = [
    "STORAGE",
    "AccessPolicy",
    "RegistryStorage",
    "Repository",
    "create_registry_app",
    "load_tokens",
    "run_registry",
    "send_blob",
]

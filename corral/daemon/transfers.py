"""Registry pulls and pushes for `/api/pull` and `/api/push`.

A name in the offline catalog (`smollm2:135m`) typed without a host is pulled from the
catalog, so it works with no registry reachable; anything else, and any name that
spells out a host (`registry.ollama.ai/library/smollm2:135m`), goes to the registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from corral.daemon.catalog import find_entry, pull_catalog_model
from corral.daemon.state import DaemonState
from corral.names import ModelName
from corral.registry.client import load_credentials, pull_model, push_model

__all__ = ["names_host", "pull_events", "push_events"]

logger = logging.getLogger(__name__)


def names_host(text: str) -> bool:
    """Whether a model name as typed includes a registry host (`host/namespace/model`)."""
    return text.split("://", 1)[-1].count("/") >= 2


async def _secret(state: DaemonState, name: ModelName) -> str | None:
    if state.settings.registry_auth is None:
        return None
    credentials = await asyncio.to_thread(load_credentials, state.settings.registry_auth)
    return credentials.get(name.host.lower())


async def pull_events(
    state: DaemonState, text: str, *, insecure: bool
) -> AsyncGenerator[dict[str, Any], None]:
    """Pull from the catalog or the registry, yielding Ollama's progress events."""
    name = ModelName.parse(text)
    entry = None if names_host(text) else find_entry(name)
    if entry is not None:
        async for event in pull_catalog_model(state, name, entry):
            yield event
        return
    secret = await _secret(state, name)
    logger.info("pulling %s from %s", name.display, name.host)
    async for event in pull_model(
        state.store, name, insecure=insecure, secret=secret, prune=not state.settings.no_prune
    ):
        yield event


async def push_events(
    state: DaemonState, text: str, *, insecure: bool
) -> AsyncGenerator[dict[str, Any], None]:
    """Push a local model to the registry its name names."""
    name = ModelName.parse(text)
    stored = await asyncio.to_thread(state.store.resolve, name)
    secret = await _secret(state, stored)
    async for event in push_model(
        state.store, ModelName(*stored.parts, scheme=name.scheme), insecure=insecure, secret=secret
    ):
        yield event

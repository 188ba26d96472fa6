"""Pushing a model: each blob the registry lacks, then the manifest.

Events are Ollama's: `retrieving manifest`; `pushing <12 hex>` with `digest`, `total`,
`completed` per layer and the config (blobs already there report complete once);
`pushing manifest`; `success`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from corral.errors import RegistryError
from corral.names import ModelName
from corral.registry.client.refs import RegistryRef
from corral.registry.client.transport import RegistrySession, error_text
from corral.registry.client.upload import BlobUpload, blob_exists
from corral.store import Store
from corral.store.manifests import Layer

__all__ = ["push_model"]

Event = dict[str, Any]
_INTERVAL = 0.1


def _progress(layer: Layer, completed: int) -> Event:
    event: Event = {
        "status": f"pushing {layer.digest.removeprefix('sha256:')[:12]}",
        "digest": layer.digest,
        "total": layer.size,
    }
    if completed:
        event["completed"] = completed
    return event


async def _upload(upload: BlobUpload) -> AsyncIterator[Event]:
    task = asyncio.ensure_future(upload.run())
    try:
        last = -1
        while not task.done():
            await asyncio.wait({task}, timeout=_INTERVAL)
            if upload.completed != last and not task.done():
                last = upload.completed
                yield _progress(upload.layer, min(upload.completed, upload.layer.size))
        task.result()
        yield _progress(upload.layer, upload.layer.size)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def push_model(
    store: Store, name: ModelName, *, insecure: bool = False, secret: str | None = None
) -> AsyncIterator[Event]:
    """Push `name` from `store` to the registry its name names, yielding progress.

    Raises:
        ModelNotFound: there is no such local model.
        InvalidRequest: plain HTTP without `insecure`.
        RegistryError: the registry refused a blob or the manifest (its message included).
    """
    ref = RegistryRef(name, insecure)
    yield {"status": "retrieving manifest"}
    manifest, data = await asyncio.to_thread(store.read_manifest, name)
    async with RegistrySession(ref, secret=secret) as session:
        seen: set[str] = set()
        for layer in (*manifest.layers, manifest.config):
            if layer.digest in seen:
                continue
            seen.add(layer.digest)
            if await blob_exists(session, layer.digest):
                yield _progress(layer, layer.size)
                continue
            yield _progress(layer, 0)
            async for event in _upload(BlobUpload(session, store.blobs, layer)):
                yield event
        yield {"status": "pushing manifest"}
        headers = {"Content-Type": manifest.media_type}
        response = await session.open("PUT", ref.manifest_url(), headers=headers, body=lambda: data)
        async with response:
            if response.status not in (200, 201):
                raise RegistryError(
                    f'registry rejected the manifest of "{name.display}": '
                    f"{await error_text(response)}"
                )
    yield {"status": "success"}

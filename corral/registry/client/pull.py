"""Pulling a model: manifest, then each missing blob, then the manifest into the store.

Events are Ollama's: `pulling manifest`; `pulling <12 hex>` with `digest`, `total` and
`completed` (omitted while 0) for each layer and the config, repeated as bytes arrive;
`verifying sha256 digest`; `writing manifest`; `removing unused layers` when the
replaced manifest left blobs nothing uses; `success`. Every digest in the manifest is
validated before any blob is requested, every blob is verified before it is visible,
and the manifest is written last, atomically, under the store lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from corral.errors import RegistryError, StoreError
from corral.names import ModelName
from corral.registry.client.download import BlobDownload
from corral.registry.client.refs import RegistryRef
from corral.registry.client.transport import RegistrySession, error_text, read_capped
from corral.registry.protocol import ACCEPT_MANIFEST
from corral.store import Store
from corral.store.manifests import Layer, Manifest
from corral.store.store import MAX_MANIFEST_BYTES

__all__ = ["PROGRESS_INTERVAL", "fetch_manifest", "pull_model"]

PROGRESS_INTERVAL = 0.1
"""Seconds between progress events while a blob downloads."""

Event = dict[str, Any]


async def fetch_manifest(session: RegistrySession) -> tuple[bytes, Manifest]:
    """The manifest's raw bytes and its parsed, validated form.

    Raises:
        RegistryError: the registry does not have it, or refused.
        StoreError: the manifest is malformed (a bad digest among them).
    """
    ref = session.ref
    response = await session.open("GET", ref.manifest_url(), headers={"Accept": ACCEPT_MANIFEST})
    async with response:
        if response.status == 404:
            raise RegistryError(
                f'pull model manifest: "{ref.name.display}" not found on {ref.name.host}'
            )
        if response.status != 200:
            raise RegistryError(
                f"pull model manifest: {ref.name.host} answered {response.status}: "
                f"{await error_text(response)}"
            )
        data = await read_capped(response, MAX_MANIFEST_BYTES, "manifest")
    try:
        manifest = Manifest.from_json(data, source=ref.manifest_url())
    except StoreError as exc:
        raise RegistryError(f"pull model manifest: {exc}") from None
    return data, manifest


def _progress(layer: Layer, completed: int) -> Event:
    event: Event = {
        "status": f"pulling {layer.digest.removeprefix('sha256:')[:12]}",
        "digest": layer.digest,
        "total": layer.size,
    }
    if completed:
        event["completed"] = completed
    return event


async def _download(download: BlobDownload) -> AsyncIterator[Event]:
    task = asyncio.ensure_future(download.run())
    try:
        last = -1
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_INTERVAL)
            completed = download.completed
            if completed != last and not task.done():
                last = completed
                yield _progress(download.layer, completed)
        task.result()
        yield _progress(download.layer, download.layer.size)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def pull_model(
    store: Store,
    name: ModelName,
    *,
    insecure: bool = False,
    secret: str | None = None,
    prune: bool = True,
) -> AsyncIterator[Event]:
    """Pull `name` from its registry into `store`, yielding progress events.

    Raises:
        InvalidRequest: plain HTTP without `insecure`.
        RegistryError: the registry failed, refused, or sent a bad manifest.
        DigestMismatch: a blob did not hash to its digest (nothing of it is kept).
    """
    ref = RegistryRef(name, insecure)
    yield {"status": "pulling manifest"}
    async with RegistrySession(ref, secret=secret) as session:
        data, manifest = await fetch_manifest(session)
        layers = [*manifest.layers, manifest.config]
        with store.lease() as lease:
            seen: set[str] = set()
            for layer in layers:
                lease.add(layer.digest)
                if layer.digest in seen:
                    continue
                seen.add(layer.digest)
                if await asyncio.to_thread(store.blobs.size, layer.digest) == layer.size:
                    yield _progress(layer, layer.size)  # already here: reported complete once
                    continue
                yield _progress(layer, 0)
                async for event in _download(BlobDownload(session, store.blobs, layer)):
                    yield event
            yield {"status": "verifying sha256 digest"}
            yield {"status": "writing manifest"}
            removed = await asyncio.to_thread(store.save_manifest, name, data, prune_old=prune)
    if removed:
        yield {"status": "removing unused layers"}
    yield {"status": "success"}

"""Uploading one blob: `HEAD`, then `POST` (cross-mount when offered), chunked `PATCH`, `PUT`.

Chunks carry `Content-Range: <start>-<end>` as Ollama sends them; each `PATCH` answer's
`Location` is where the next goes, and the last `PUT ...?digest=` asks the registry to
verify the whole blob. A registry that rejects it fails the push with its own message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlencode, urljoin

from corral.errors import InvalidModelName, RegistryError
from corral.names import ModelName
from corral.registry.client.transport import RegistrySession, error_text
from corral.store.blobs import BlobStore
from corral.store.manifests import Layer

__all__ = ["CHUNK_SIZE", "BlobUpload", "blob_exists"]

CHUNK_SIZE = 64 << 20
"""Bytes per PATCH."""
_READ = 1 << 20


async def blob_exists(session: RegistrySession, digest: str) -> bool:
    """Whether the registry already holds `digest` (`HEAD` answers 200).

    Raises:
        RegistryError: any answer but 200 or 404.
    """
    response = await session.open("HEAD", session.ref.blob_url(digest))
    async with response:
        if response.status == 200:
            return True
        if response.status == 404:
            return False
        raise RegistryError(f"HEAD blob {digest}: {await error_text(response)}")


def _mount_source(layer: Layer, host: str) -> str | None:
    if not layer.from_:
        return None
    try:
        source = ModelName.parse(layer.from_)
    except InvalidModelName:
        return None
    return f"{source.namespace}/{source.model}" if source.host.lower() == host.lower() else None


class BlobUpload:
    """Sends one local blob to the registry.

    Args:
        session: the registry conversation.
        blobs: the local store's blobs.
        layer: the blob to send.
    """

    def __init__(self, session: RegistrySession, blobs: BlobStore, layer: Layer) -> None:
        self.session = session
        self.blobs = blobs
        self.layer = layer
        self.completed = 0
        self.mounted = False

    async def run(self) -> None:
        """Upload (or mount) the blob.

        Raises:
            RegistryError: the registry refused a step; its message is included.
        """
        ref = self.session.ref
        query = {}
        source = _mount_source(self.layer, ref.name.host)
        if source is not None:
            query = {"mount": self.layer.digest, "from": source}
        url = ref.upload_url() + (f"?{urlencode(query)}" if query else "")
        response = await self.session.open("POST", url)
        async with response:
            if response.status == 201:
                self.mounted = True
                self.completed = self.layer.size
                return
            if response.status != 202:
                raise RegistryError(
                    f"start upload of {self.layer.digest}: {await error_text(response)}"
                )
            location = self._location(response.headers, url)
        offset = 0
        while offset < self.layer.size or (offset == 0 and self.layer.size == 0):
            length = min(CHUNK_SIZE, self.layer.size - offset)
            if length == 0:
                break
            location = await self._patch(location, offset, length)
            offset += length
        await self._finish(location)
        self.completed = self.layer.size

    def _location(self, headers: object, base: str) -> str:
        get = getattr(headers, "get")  # noqa: B009 - CIMultiDictProxy
        location = get("Docker-Upload-Location") or get("Location")
        if not location:
            raise RegistryError(f"registry gave no upload location for {self.layer.digest}")
        return urljoin(base, str(location))

    async def _patch(self, location: str, offset: int, length: int) -> str:
        end = offset + length - 1
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length),
            "Content-Range": f"{offset}-{end}",
        }
        start_completed = self.completed

        def body() -> AsyncIterator[bytes]:
            self.completed = start_completed
            return self._read(offset, length)

        response = await self.session.open("PATCH", location, headers=headers, body=body)
        async with response:
            if response.status not in (202, 204):
                raise RegistryError(
                    f"upload of {self.layer.digest} refused at byte {offset}: "
                    f"{await error_text(response)}"
                )
            return self._location(response.headers, location)

    async def _read(self, offset: int, length: int) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.blobs.open, self.layer.digest)
        try:
            await asyncio.to_thread(handle.seek, offset)
            left = length
            while left > 0:
                chunk = await asyncio.to_thread(handle.read, min(_READ * 4, left))
                if not chunk:
                    raise RegistryError(f"local blob {self.layer.digest} is shorter than its layer")
                left -= len(chunk)
                self.completed += len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def _finish(self, location: str) -> None:
        separator = "&" if "?" in location else "?"
        url = f"{location}{separator}{urlencode({'digest': self.layer.digest})}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": "0"}
        response = await self.session.open("PUT", url, headers=headers, body=lambda: b"")
        async with response:
            if response.status not in (201, 204):
                raise RegistryError(
                    f"registry rejected blob {self.layer.digest}: {await error_text(response)}"
                )

"""What every screen shares: the daemon client and the session store, reached from any widget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from textual.dom import DOMNode

from corral.client import AsyncClient
from corral.errors import ProtocolError
from corral.sessions import SessionStore

__all__ = ["Services", "services"]


@dataclass
class Services:
    """The app's one `AsyncClient` and one `SessionStore`."""

    client: AsyncClient
    store: SessionStore

    async def model_names(self) -> list[str]:
        """Names of the local models, sorted."""
        listing = await self.client.list()
        models = listing.get("models")
        if not isinstance(models, list):
            raise ProtocolError("the daemon's model list has no models array")
        return sorted(str(m.get("name")) for m in models if isinstance(m, dict))


class _HasServices(Protocol):
    services: Services


def services(node: DOMNode) -> Services:
    """The services of the app `node` belongs to."""
    app: _HasServices = node.app  # type: ignore[assignment]
    return app.services

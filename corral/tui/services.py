"""What every screen shares: the daemon client and the session store, reached from any widget."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol

from textual.dom import DOMNode

from corral.client import AsyncClient
from corral.errors import ProtocolError
from corral.sessions import SessionStore

__all__ = ["Services", "deferred", "services"]


@dataclass
class Services:
    """The app's one `AsyncClient` and one `SessionStore`, its clock and polling period."""

    client: AsyncClient
    store: SessionStore
    poll: float = 2.0
    """Seconds between refreshes of live panels."""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The clock of keep-alive countdowns (fixed in snapshot tests)."""

    async def model_names(self) -> list[str]:
        """Names of the local models, sorted."""
        listing = await self.client.list()
        models = listing.get("models")
        if not isinstance(models, list):
            raise ProtocolError("the daemon's model list has no models array")
        return sorted(str(m.get("name")) for m in models if isinstance(m, dict))


P = ParamSpec("P")


class deferred(Awaitable[None]):
    """`function(*args)` for a worker, its coroutine built only when the worker awaits it.

    An exclusive worker cancelled before it starts then leaves no un-awaited coroutine.
    """

    def __init__(
        self, function: Callable[P, Coroutine[Any, Any, None]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        self._function: Callable[..., Coroutine[Any, Any, None]] = function
        self._args = args
        self._kwargs = kwargs

    def __await__(self) -> Generator[Any, None, None]:
        return self._function(*self._args, **self._kwargs).__await__()


class _HasServices(Protocol):
    services: Services


def services(node: DOMNode) -> Services:
    """The services of the app `node` belongs to."""
    app: _HasServices = node.app  # type: ignore[assignment]
    return app.services

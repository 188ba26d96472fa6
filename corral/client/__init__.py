"""The only way front ends reach the daemon: `Client` (blocking) and `AsyncClient` (asyncio).

Both speak the native `/api` over HTTP and raise corral's own errors: a daemon
answer `{"error": ..., "code": ...}` comes back as the class its code names
(`ModelNotFound`, `QueueFull`, ...), a daemon that is not running as
`DaemonUnavailable`, and anything undecodable as `ProtocolError`.
"""

from __future__ import annotations

from corral.client._async import AsyncClient
from corral.client._sync import Client

__all__ = ["AsyncClient", "Client"]

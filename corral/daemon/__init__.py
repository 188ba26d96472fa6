"""`corral serve`: the aiohttp daemon, its scheduler and runner handles."""

from __future__ import annotations

from corral.daemon.app import create_app, serve
from corral.daemon.settings import Settings

__all__ = ["Settings", "create_app", "serve"]

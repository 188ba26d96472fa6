"""Running the registry: `corral registry serve --root DIR [--host H:P] [--token-file F]`."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from corral import eventloop
from corral.registry.server.app import create_registry_app
from corral.registry.server.auth import load_tokens

__all__ = ["ACCESS_LOG_FORMAT", "run_registry"]

logger = logging.getLogger(__name__)

ACCESS_LOG_FORMAT = '%a "%r" %s %b range="%{Range}i"'
"""One line per request; `%b` is the body bytes sent, so resumed downloads are visible."""


async def _run(root: Path, host: str, port: int, tokens: dict[str, str]) -> None:
    app = create_registry_app(root, tokens=tokens)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=logging.getLogger("corral.registry.access"),
        access_log_format=ACCESS_LOG_FORMAT,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    mode = "token-protected" if tokens else "open (no --token-file)"
    logger.info(
        "corral registry listening on http://%s:%d, %s, storage in %s", host, port, mode, root
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run_registry(root: Path, host: str, port: int, token_file: Path | None) -> None:
    """Serve the registry at `root` until SIGINT or SIGTERM.

    Raises:
        ConfigError: the token file is unreadable or malformed.
    """
    tokens = load_tokens(token_file) if token_file is not None else {}
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    eventloop.run(_run(root, host, port, tokens))

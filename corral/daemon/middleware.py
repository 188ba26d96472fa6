"""The daemon's error boundary: CorralError → `{"error", "code"}` with its status."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from corral.errors import CorralError

__all__ = ["error_middleware"]

logger = logging.getLogger(__name__)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CorralError as exc:
        if exc.status >= 500:
            logger.error("%s %s failed: %s", request.method, request.path, exc)
        return web.json_response({"error": str(exc), "code": exc.code}, status=exc.status)
    except web.HTTPException:
        raise
    except (ConnectionResetError, BrokenPipeError):
        raise
    except Exception as exc:
        logger.exception("%s %s crashed", request.method, request.path)
        return web.json_response(
            {"error": f"internal error: {exc}", "code": "internal"}, status=500
        )

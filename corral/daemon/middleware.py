"""The daemon's error boundary: a CorralError becomes the error shape of the API it hit.

Native routes answer `{"error", "code"}` as Ollama does; `/v1/messages` answers
Anthropic's `{"type": "error", "error": {"type", "message"}}`; the other `/v1/`
routes answer OpenAI's `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from corral.errors import CorralError, RequestTooLarge

__all__ = ["Dialect", "dialect_of", "error_body", "error_middleware", "error_response"]

logger = logging.getLogger(__name__)

Dialect = Literal["native", "openai", "anthropic"]

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def dialect_of(path: str) -> Dialect:
    """Which API a path belongs to, and so which error shape it answers with."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return "anthropic"
    if path.startswith("/v1/"):
        return "openai"
    return "native"


def error_body(dialect: Dialect, status: int, message: str, code: str) -> dict[str, Any]:
    """The JSON error object one API uses for `message` at `status`."""
    if dialect == "openai":
        openai_code = "invalid_api_key" if status == 401 else None
        return {
            "error": {
                "message": message,
                "type": _OPENAI_TYPES.get(status, "api_error"),
                "param": None,
                "code": openai_code,
            }
        }
    if dialect == "anthropic":
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message},
        }
    return {"error": message, "code": code}


def error_response(request: web.Request, exc: CorralError) -> web.Response:
    body = error_body(dialect_of(request.path), exc.status, str(exc), exc.code)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return web.json_response(body, status=exc.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CorralError as exc:
        if exc.status >= 500:
            logger.error("%s %s failed: %s", request.method, request.path, exc)
        return error_response(request, exc)
    except web.HTTPRequestEntityTooLarge:
        # aiohttp's own limit, hit by bodies sent without a Content-Length header.
        limit = request.client_max_size
        message = f"request body is larger than the {limit}-byte limit (CORRAL_MAX_BODY)"
        return error_response(request, RequestTooLarge(message))
    except web.HTTPException as exc:
        dialect = dialect_of(request.path)
        if exc.status < 400 or dialect == "native":
            raise  # Ollama answers unknown routes with plain "404 page not found"
        message = f"{request.method} {request.path}: {exc.reason.lower()}"
        body = error_body(dialect, exc.status, message, "http")
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response(body, status=exc.status, headers=allow)
    except (ConnectionResetError, BrokenPipeError):
        raise
    except Exception as exc:
        logger.exception("%s %s crashed", request.method, request.path)
        return error_response(request, CorralError(f"internal error: {exc}"))

"""Browser and network safety: CORS, the Host check against DNS rebinding, body size, API key.

The rules follow Ollama's (`server/routes.go` `allowedHostsMiddleware` and its
gin-contrib/cors setup): a request whose `Origin` is not allowed gets 403, as does
a `Host` that is not local while the daemon listens on loopback. On top of that,
`CORRAL_API_KEY` makes every endpoint but `/` require `Authorization: Bearer <key>`
(or Anthropic's `x-api-key: <key>`), so a daemon bound to a LAN address is not
open to everyone who can reach it.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import socket
from collections.abc import Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from corral.daemon.settings import Settings
from corral.errors import Forbidden, RequestTooLarge, Unauthorized

__all__ = [
    "ALLOW_HEADERS",
    "DEFAULT_ORIGINS",
    "add_cors_headers",
    "bearer_token",
    "guard_middleware",
    "host_allowed",
    "origin_allowed",
]

DEFAULT_ORIGINS: tuple[str, ...] = (
    *(
        f"{scheme}://{host}{port}"
        for host in ("localhost", "127.0.0.1", "0.0.0.0")
        for scheme in ("http", "https")
        for port in ("", ":*")
    ),
    "app://*",
    "file://*",
    "tauri://*",
    "vscode-webview://*",
    "vscode-file://*",
)
"""Origins always allowed, as in Ollama's `envconfig.AllowedOrigins`."""

ALLOW_HEADERS = (
    "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, OpenAI-Beta, "
    "x-stainless-arch, x-stainless-async, x-stainless-custom-poll-interval, "
    "x-stainless-helper-method, x-stainless-lang, x-stainless-os, "
    "x-stainless-package-version, x-stainless-poll-helper, x-stainless-retry-count, "
    "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout, "
    "x-api-key, anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access"
)
"""Request headers a preflight allows: Ollama's list plus Anthropic's SDK headers."""

_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
_MAX_AGE = str(12 * 3600)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")
_CORS_ORIGIN = "corral.cors_origin"
_UNLIMITED_BODY_PREFIX = "/api/blobs/"


def _matches(origin: str, pattern: str) -> bool:
    """gin-contrib/cors wildcard matching: one `*` stands for any run of characters."""
    if pattern == "*":
        return True
    if "*" not in pattern:
        return origin == pattern
    prefix, _, suffix = pattern.partition("*")
    return len(origin) >= len(prefix) + len(suffix) and (
        origin.startswith(prefix) and origin.endswith(suffix)
    )


def origin_allowed(origin: str, extra: Iterable[str] = (), *, host: str = "") -> bool:
    """Whether a browser `Origin` may use the API.

    Same-origin requests (`http://<Host>`) pass as in gin-contrib/cors; the Host check
    is what stops DNS rebinding. `null` passes only when listed explicitly.
    """
    origin = origin.strip().lower()
    if host and origin in {f"http://{host.lower()}", f"https://{host.lower()}"}:
        return True
    return any(_matches(origin, p.strip().lower()) for p in (*DEFAULT_ORIGINS, *extra))


@functools.cache
def _hostname() -> str:
    return socket.gethostname().lower()


def _split_host(header: str) -> str:
    """The host part of a `Host` header: no port, no IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        return header.partition(":")[0]
    return header


def host_allowed(header: str) -> bool:
    """Ollama's `allowedHost` rules for a daemon bound to loopback.

    Loopback, private and unspecified IPs pass, and so do the names `localhost`, this
    machine's hostname and anything under `.localhost`, `.local` or `.internal`.
    """
    host = _split_host(header)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return address.is_loopback or address.is_private or address.is_unspecified
    return host in {"", "localhost", _hostname()} or host.endswith(_LOCAL_SUFFIXES)


def bearer_token(authorization: str | None, api_key_header: str | None) -> str:
    """The token a request offers: `Authorization: Bearer <t>`, else `x-api-key: <t>`."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return token.strip()
    return (api_key_header or "").strip()


def _check_token(request: web.Request, key: str) -> None:
    offered = bearer_token(request.headers.get("Authorization"), request.headers.get("x-api-key"))
    if not offered:
        raise Unauthorized(
            "this server requires an API key: send it as Authorization: Bearer <key> "
            "(the key is CORRAL_API_KEY on the server)"
        )
    if not hmac.compare_digest(offered.encode(), key.encode()):
        raise Unauthorized("the API key sent in the request is not the one this server accepts")


def _check_body_size(request: web.Request, limit: int) -> None:
    length = request.content_length
    if (
        length is not None
        and length > limit
        and not request.path.startswith(_UNLIMITED_BODY_PREFIX)
    ):
        raise RequestTooLarge(
            f"request body of {length} bytes is larger than the {limit}-byte limit "
            "(CORRAL_MAX_BODY)"
        )


def guard_middleware(settings: Settings) -> Middleware:
    """The checks every request passes before a handler runs, in Ollama's order.

    Raises `Forbidden`, `Unauthorized` or `RequestTooLarge`, which the error
    middleware outside it turns into each API's own error shape.
    """
    check_host = settings.host.is_loopback
    extra: Sequence[str] = settings.origins

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if check_host and not host_allowed(host):
            raise Forbidden(f'host "{_split_host(host)}" is not allowed to reach this server')
        origin = request.headers.get("Origin")
        if origin is not None:
            if not origin_allowed(origin, extra, host=host):
                raise Forbidden(
                    f'origin "{origin}" is not allowed; add it to CORRAL_ORIGINS to allow it'
                )
            request[_CORS_ORIGIN] = "*" if "*" in extra else origin
        if request.method == "OPTIONS":
            return web.Response(status=204)
        if settings.api_key and request.path != "/":
            _check_token(request, settings.api_key)
        _check_body_size(request, settings.max_body)
        return await handler(request)

    return guard


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: CORS headers on every answer to an allowed origin.

    A signal rather than a middleware, so that streamed and error responses get them too.
    """
    origin = request.get(_CORS_ORIGIN)
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    if origin != "*":
        response.headers["Vary"] = "Origin"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = _ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = _MAX_AGE

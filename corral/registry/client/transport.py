"""HTTP to one registry: auth, redirects, bounded reads, and where credentials may go.

Rules (security-cases.md §0 rule 9):

- `Authorization` is sent only to the registry's own origin (scheme, host, port);
  a redirect to any other origin — blob storage, a CDN — gets no credentials.
- At most 10 redirects; `https` only unless the pull or push is `insecure`.
- A redirect to another origin that resolves to a loopback, private, link-local or
  otherwise non-public address is refused, unless the registry itself is on such an
  address (a registry on your own network may keep its storage there too).
- Bodies read into memory (manifests, tokens, errors) are capped; responses are never
  decompressed (`Accept-Encoding: identity`), so a gzip bomb stays small.
- Connect and stall (read) timeouts on every request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import aiohttp

from corral import __version__
from corral.errors import RegistryError
from corral.registry.client.auth import parse_challenge, token_url
from corral.registry.client.refs import Origin, RegistryRef, origin_of
from corral.registry.protocol import MAX_ERROR_BODY

__all__ = ["USER_AGENT", "RegistrySession", "describe_error", "error_text", "read_capped"]

logger = logging.getLogger(__name__)

USER_AGENT = f"corral/{__version__}"
MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_TOKEN_BODY = 64 * 1024

Body = Callable[[], Any]
"""Makes a fresh request body for each attempt (a retry after a 401 needs a new one)."""


async def read_capped(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The whole body, refusing more than `limit` bytes.

    Raises:
        RegistryError: the body is larger than `limit`.
    """
    if response.content_length is not None and response.content_length > limit:
        raise RegistryError(f"{what} is too large ({response.content_length} bytes)")
    data = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > limit:
            raise RegistryError(f"{what} is too large (over {limit} bytes)")
    return bytes(data)


async def error_text(response: aiohttp.ClientResponse) -> str:
    """A short description of a registry error response: its OCI codes and messages."""
    try:
        body = await read_capped(response, MAX_ERROR_BODY, "error body")
    except (TimeoutError, RegistryError, aiohttp.ClientError):
        body = b""
    return describe_error(response.status, body)


def describe_error(status: int, body: bytes) -> str:
    """A short description of a registry error: the OCI codes and messages in `body`."""
    try:
        doc = json.loads(body)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors:
            return "; ".join(
                f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
                for e in errors[:5]
                if isinstance(e, dict)
            )
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            return str(doc["error"])[:300]
    except (ValueError, AttributeError):
        pass
    text = body.decode("utf-8", "replace").strip()
    return text[:300] or f"HTTP {status}"


def _non_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


class RegistrySession:
    """One pull's or push's conversation with a registry.

    Args:
        ref: the registry and repository.
        secret: the credential for this registry's token realm, if any.
        timeout: seconds to connect, and the longest silence while reading.
    """

    def __init__(self, ref: RegistryRef, *, secret: str | None = None, timeout: float = 30.0):
        self.ref = ref
        self.timeout = timeout
        self.origin: Origin = ref.origin
        self._secret = secret
        self._token: str | None = None
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._registry_is_local: bool | None = None

    async def __aenter__(self) -> RegistrySession:
        connector = aiohttp.TCPConnector(limit=32, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            read_bufsize=1 << 20,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use RegistrySession as an async context manager"
        return self._session

    def trusted(self, url: str) -> bool:
        """Whether `url` is on the registry's own origin (the only one given credentials)."""
        return origin_of(url) == self.origin

    def credentials(self, url: str) -> dict[str, str]:
        """The `Authorization` header for `url`: the token, on the registry's own origin only."""
        if self._token and self.trusted(url):
            return {"Authorization": f"Bearer {self._token}"}
        return {}

    async def _addresses(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise RegistryError(f'cannot resolve "{host}": {exc}') from None
        return [str(info[4][0]) for info in infos]

    async def _check_target(self, url: str) -> None:
        scheme, host, port = origin_of(url)
        if scheme not in ("http", "https") or (scheme == "http" and not self.ref.insecure):
            raise RegistryError(f'redirect to "{url[:200]}" is not https; refused')
        if self._registry_is_local is None:
            _, rhost, rport = self.origin
            self._registry_is_local = any(
                _non_public(a) for a in await self._addresses(rhost, rport)
            )
        if self._registry_is_local:
            return
        if any(_non_public(a) for a in await self._addresses(host, port)):
            raise RegistryError(f'redirect to disallowed address "{host}"')

    async def open(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
        follow: bool = True,
    ) -> aiohttp.ClientResponse:
        """Send a request, answering one auth challenge and following redirects.

        The caller reads and releases the response (`async with`).

        Raises:
            RegistryError: too many redirects, a refused redirect target or realm, a
                failed token request, or a connection failure.
        """
        authenticated = False
        for _ in range(MAX_REDIRECTS + 1):
            trusted = self.trusted(url)
            if not trusted:
                await self._check_target(url)
            sent = {**(headers or {}), **self.credentials(url)}
            try:
                response = await self.session.request(
                    method,
                    url,
                    headers=sent,
                    data=body() if body is not None else None,
                    allow_redirects=False,
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise RegistryError(f"{method} {_short(url)}: {_reason(exc)}") from None
            if follow and response.status in _REDIRECTS and "Location" in response.headers:
                location = urljoin(url, response.headers["Location"])
                response.release()
                if response.status == 303:
                    method, body = "GET", None
                url = location
                continue
            if response.status == 401 and trusted and not authenticated:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.release()
                await self._authenticate(challenge)
                authenticated = True
                continue
            return response
        raise RegistryError(f"too many redirects fetching {_short(url)}")

    async def _authenticate(self, header: str) -> None:
        if not header:
            raise RegistryError(f"registry {self.ref.name.host} refused the request (401)")
        realm = token_url(parse_challenge(header), self.origin, insecure=self.ref.insecure)
        sent = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        try:
            async with self.session.get(realm, headers=sent, allow_redirects=False) as response:
                if response.status != 200:
                    reason = await error_text(response)
                    hint = "" if self._secret else "; add a token to the registry credentials file"
                    raise RegistryError(
                        f"registry {self.ref.name.host} refused authentication: {reason}{hint}"
                    )
                data = await read_capped(response, _MAX_TOKEN_BODY, "token response")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RegistryError(f"token request to {_short(realm)}: {_reason(exc)}") from None
        try:
            doc = json.loads(data)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"registry {self.ref.name.host} sent no token")
        self._token = token


def _short(url: str) -> str:
    return url.split("?", 1)[0][:200]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__

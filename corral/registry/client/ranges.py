"""Blocking ranged GETs on pool threads: a blob's bytes go from the socket to the file.

Hundreds of megabytes a second do not belong on the event loop: every chunk would be
allocated there, handed to a writer thread and back. Here each part of a download
runs on a thread of its own with `http.client`, reading into one reusable buffer that
is written where it belongs, so a byte is copied once out of the socket and once into
the page cache, as curl does.

The URL is one `RegistrySession` has already resolved (its redirects followed, their
targets checked); the caller passes the credentials the session allows for it.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from corral.errors import RegistryError
from corral.registry.client.transport import USER_AGENT, describe_error
from corral.registry.protocol import MAX_ERROR_BODY

__all__ = ["RangeReader", "Reroute"]

_BUFFER = 1 << 20
_REROUTE = frozenset({301, 302, 303, 307, 308, 401, 403})

Sink = Callable[[memoryview, int], None]
"""Stores `view` at byte `offset` of the blob (called in order, on the reading thread)."""


class Reroute(Exception):
    """The resolved URL now redirects or refuses (a storage link expired): resolve it again.

    Internal to a download: when resolving again does not help, it becomes a RegistryError.
    """


class RangeReader:
    """Reads byte ranges of one URL on the calling thread; `abort` stops every read at once.

    Args:
        timeout: seconds to connect, and the longest silence while reading.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self._aborted = False
        self._tls: ssl.SSLContext | None = None

    def abort(self) -> None:
        """(Any thread.) Make every read in progress, and every later one, end now."""
        with self._lock:
            self._aborted = True
            connections = list(self._open)
        for connection in connections:
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

    def fetch(self, url: str, start: int, end: int, headers: Mapping[str, str], sink: Sink) -> None:
        """(Blocking.) GET bytes `start`..`end` (inclusive) of `url` into `sink`.

        Raises:
            Reroute: the URL answered a redirect, 401 or 403.
            RegistryError: any other refusal, or the connection failed or ended early.
            StoreError: from `sink` (the file could not be written); a sink raises
                nothing that is an OSError, so network and disk trouble stay apart.
        """
        connection = self._connect(url)
        received = start
        try:
            response = self._request(connection, url, start, end, headers)
            buffer = memoryview(bytearray(_BUFFER))
            while received <= end:
                count = response.readinto(buffer[: min(_BUFFER, end + 1 - received)])
                if not count:
                    break
                sink(buffer[:count], received)
                received += count
        except (http.client.HTTPException, OSError) as exc:
            reason = "cancelled" if self._aborted else (str(exc) or type(exc).__name__)
            raise RegistryError(f"interrupted at byte {received}: {reason}") from None
        finally:
            with self._lock:
                self._open.discard(connection)
            connection.close()
        if received <= end:
            raise RegistryError(f"the registry ended the download early at byte {received}")

    def _connect(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        host = parts.hostname or ""
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=self._timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=self._timeout)
        with self._lock:
            if self._aborted:
                raise RegistryError("interrupted: cancelled")
            self._open.add(connection)
        return connection

    def _request(
        self,
        connection: http.client.HTTPConnection,
        url: str,
        start: int,
        end: int,
        headers: Mapping[str, str],
    ) -> http.client.HTTPResponse:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            **headers,
            "Range": f"bytes={start}-{end}",
        }
        connection.request("GET", target, headers=sent)
        response = connection.getresponse()
        if response.status == 206 or (response.status == 200 and start == 0):
            return response
        body = response.read(MAX_ERROR_BODY) if response.status not in _REROUTE else b""
        text = describe_error(response.status, body)
        reason = text if text == f"HTTP {response.status}" else f"HTTP {response.status}: {text}"
        if response.status in _REROUTE:
            raise Reroute(reason)
        raise RegistryError(reason)

"""Registry access control: read and write tokens, and Docker's bearer-token challenge.

A token file holds one `<token> <read|write>` per line (`#` starts a comment); `write`
implies `read`. Clients may send a token from the file as `Authorization: Bearer <token>`
(or as the password of Basic auth), or trade it at the realm `/v2/token` for a signed
short-lived token, which is what Docker-style clients do after a `401` challenge.
With no token file the registry is open, as a plain `registry:2` is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from corral.errors import ConfigError

__all__ = ["READ", "WRITE", "AccessPolicy", "load_tokens"]

READ = "read"
WRITE = "write"
TOKEN_LIFETIME = 3600.0
"""Seconds a token issued by the realm stays valid."""


def load_tokens(path: Path) -> dict[str, str]:
    """Parse a token file into `{token: access}`.

    Raises:
        ConfigError: the file cannot be read or a line is malformed (the line is named).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f'cannot read token file "{path}": {exc}') from exc
    tokens: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in (READ, WRITE) or len(parts[0]) < 8:
            raise ConfigError(
                f'token file "{path}" line {number}: expected "<token> read" or "<token> write" '
                "with a token of at least 8 characters"
            )
        tokens[parts[0]] = parts[1]
    if not tokens:
        raise ConfigError(f'token file "{path}" holds no tokens')
    return tokens


def _allows(access: str, need: str) -> bool:
    return access == WRITE or need == READ


@dataclass
class AccessPolicy:
    """Who may read and write. `tokens` empty means everyone may do everything."""

    tokens: dict[str, str] = field(default_factory=dict)
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def open(self) -> bool:
        return not self.tokens

    def secret_access(self, authorization: str) -> str | None:
        """The access a raw token from the file (Bearer, or Basic's password) grants."""
        secret = _credential(authorization)
        if secret is None:
            return None
        for token, access in self.tokens.items():
            if hmac.compare_digest(token.encode(), secret.encode()):
                return access
        return None

    def issue(self, access: str, *, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + TOKEN_LIFETIME)
        body = f"{access}.{expires}"
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        return f"crt.{body}.{mac}"

    def _issued_access(self, token: str) -> str | None:
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "crt" or parts[1] not in (READ, WRITE):
            return None
        body = f"{parts[1]}.{parts[2]}"
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, parts[3]):
            return None
        try:
            if int(parts[2]) < time.time():
                return None
        except ValueError:
            return None
        return parts[1]

    def allows(self, authorization: str, need: str) -> bool:
        """Whether a request with this `Authorization` header may `need` (read or write)."""
        if self.open:
            return True
        access = self.secret_access(authorization)
        if access is None and authorization[:7].lower() == "bearer ":
            access = self._issued_access(authorization[7:].strip())
        return access is not None and _allows(access, need)


def _credential(authorization: str) -> str | None:
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None

"""Registry credentials and the bearer-token challenge (`WWW-Authenticate: Bearer realm=...`).

Credentials come from a JSON file (`CORRAL_REGISTRY_AUTH`, default
`<CORRAL_HOME>/registry-auth.json`): `{"<host[:port]>": {"token": "<secret>"}}`. The
secret goes only to the realm of that host's challenge, and a realm on any other host
is refused before a request is made (CVE-2025-51471).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from corral.errors import ConfigError, RegistryError
from corral.registry.client.refs import Origin, origin_of

__all__ = ["Challenge", "load_credentials", "parse_challenge", "token_url"]

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_MAX_AUTH_FILE = 1 << 20


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`."""

    realm: str
    service: str = ""
    scope: str = ""


def parse_challenge(header: str) -> Challenge:
    """Parse a Bearer challenge.

    Raises:
        RegistryError: the header is missing, not Bearer, or has no realm.
    """
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise RegistryError(
            f'registry asked for unsupported authentication "{header[:100]}"; only Bearer works'
        )
    params = {
        key.lower(): (quoted if quoted is not None and quoted != "" else bare or "")
        for key, quoted, bare in _PARAM.findall(rest)
    }
    realm = params.get("realm", "")
    if not realm:
        raise RegistryError("registry authentication challenge has no realm")
    return Challenge(realm, params.get("service", ""), params.get("scope", ""))


def token_url(challenge: Challenge, registry: Origin, *, insecure: bool) -> str:
    """The realm URL to ask for a token, checked to be on the registry's own host.

    Raises:
        RegistryError: the realm is on another host, or not https without `insecure`.
    """
    realm = challenge.realm
    scheme, host, port = origin_of(realm)
    if scheme not in ("http", "https") or (scheme == "http" and not insecure):
        raise RegistryError(f'registry auth realm "{realm[:200]}" is not an https URL')
    if (host, port) != (registry[1], registry[2]):
        raise RegistryError(
            f'realm host "{urlsplit(realm).netloc[:200]}" does not match original host '
            f'"{registry[1]}:{registry[2]}"'
        )
    query = {k: v for k, v in (("service", challenge.service), ("scope", challenge.scope)) if v}
    separator = "&" if "?" in realm else "?"
    return realm + (separator + urlencode(query) if query else "")


def load_credentials(path: Path) -> dict[str, str]:
    """`{host: secret}` from the credentials file; empty when the file does not exist.

    Raises:
        ConfigError: the file is not the expected JSON (the file is named).
    """
    try:
        with open(path, "rb") as source:
            data = source.read(_MAX_AUTH_FILE + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f'cannot read registry credentials "{path}": {exc.strerror}') from exc
    try:
        doc = json.loads(data)
        if len(data) > _MAX_AUTH_FILE or not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        found = {}
        for host, entry in doc.items():
            token = entry.get("token") if isinstance(entry, dict) else None
            if not isinstance(token, str) or not token:
                raise ValueError(f'"{host}" has no "token" string')
            found[str(host).lower()] = token
    except ValueError as exc:
        raise ConfigError(
            f'registry credentials "{path}" are invalid: {exc}; expected '
            '{"host:port": {"token": "..."}}'
        ) from None
    return found

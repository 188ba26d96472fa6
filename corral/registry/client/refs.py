"""From a model name to registry URLs: `[scheme://][host/][namespace/]model[:tag]`.

`https` unless the name says `http://` or `--insecure` is given; a plain-HTTP registry
needs `insecure` either way, as in Ollama (`insecure protocol http`). Every part of the
name was validated by `ModelName`, so nothing here can add a path segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from corral.errors import InvalidRequest
from corral.names import ModelName
from corral.store.digests import parse_digest

__all__ = ["Origin", "RegistryRef", "origin_of"]

Origin = tuple[str, str, int]
"""(scheme, lower-case host, port): requests may carry credentials only to one origin."""


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """Where one model lives on its registry.

    Args:
        name: the model (host, namespace, model, tag).
        insecure: allow plain HTTP (and use it when the name gives no scheme).
    """

    name: ModelName
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.scheme == "http" and not self.insecure:
            raise InvalidRequest(
                f'insecure protocol http for "{self.name.full}"; pass --insecure to allow it'
            )

    @property
    def scheme(self) -> str:
        """`http` with `insecure` (a local registry), else the name's scheme (`https`)."""
        return "http" if self.insecure else self.name.scheme

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.name.host}"

    @property
    def origin(self) -> Origin:
        return origin_of(self.base)

    @property
    def repository(self) -> str:
        return f"{self.name.namespace}/{self.name.model}"

    def manifest_url(self, reference: str | None = None) -> str:
        return f"{self.base}/v2/{self.repository}/manifests/{reference or self.name.tag}"

    def blob_url(self, digest: str) -> str:
        return f"{self.base}/v2/{self.repository}/blobs/{parse_digest(digest)}"

    def upload_url(self) -> str:
        return f"{self.base}/v2/{self.repository}/blobs/uploads/"

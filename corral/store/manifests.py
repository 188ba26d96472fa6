"""Manifests: Docker v2 schema 2 JSON with Ollama's `application/vnd.ollama.image.*` layers.

`Manifest.from_json` is strict about what it needs (digests, sizes, media types) and,
like Go's decoder, ignores fields it does not know. `to_json` writes what Ollama's
`json.Marshal` writes: compact, fields in Ollama's order, `from`/`name` only when set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.errors import InvalidDigest, StoreError
from corral.store.digests import parse_digest

__all__ = [
    "MEDIA_ADAPTER",
    "MEDIA_CONFIG",
    "MEDIA_DRAFT",
    "MEDIA_EMBED",
    "MEDIA_JSON",
    "MEDIA_LICENSE",
    "MEDIA_MANIFEST",
    "MEDIA_MESSAGES",
    "MEDIA_MODEL",
    "MEDIA_OCI_MANIFEST",
    "MEDIA_PARAMS",
    "MEDIA_PROJECTOR",
    "MEDIA_PROMPT",
    "MEDIA_SYSTEM",
    "MEDIA_TEMPLATE",
    "MEDIA_TENSOR",
    "Layer",
    "Manifest",
]

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_MODEL = "application/vnd.ollama.image.model"
MEDIA_ADAPTER = "application/vnd.ollama.image.adapter"
MEDIA_PROJECTOR = "application/vnd.ollama.image.projector"
MEDIA_DRAFT = "application/vnd.ollama.image.draft"
MEDIA_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_PROMPT = "application/vnd.ollama.image.prompt"
"""Legacy alias of `MEDIA_TEMPLATE` found in old manifests."""
MEDIA_SYSTEM = "application/vnd.ollama.image.system"
MEDIA_PARAMS = "application/vnd.ollama.image.params"
MEDIA_MESSAGES = "application/vnd.ollama.image.messages"
MEDIA_LICENSE = "application/vnd.ollama.image.license"
MEDIA_EMBED = "application/vnd.ollama.image.embed"
"""Deprecated by Ollama; ignored when a model is loaded."""
MEDIA_TENSOR = "application/vnd.ollama.image.tensor"
MEDIA_JSON = "application/vnd.ollama.image.json"

_MANIFEST_TYPES = frozenset({MEDIA_MANIFEST, MEDIA_OCI_MANIFEST})


@dataclass(frozen=True, slots=True)
class Layer:
    """One blob a manifest references: its media type, digest and size in bytes."""

    media_type: str
    digest: str
    """Canonical `sha256:<hex>`."""
    size: int
    from_: str | None = None
    """The model this layer came from (`from` in JSON; used for cross-repo mounts)."""
    name: str | None = None
    """File or tensor name, for safetensors models."""

    def __post_init__(self) -> None:
        # Validate before any path is ever built from this layer.
        object.__setattr__(self, "digest", parse_digest(self.digest))
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise StoreError(f'invalid layer size "{self.size}": expected a non-negative integer')
        if not isinstance(self.media_type, str) or not self.media_type:
            raise StoreError(f'invalid layer media type "{self.media_type}"')

    def to_dict(self) -> dict[str, Any]:
        """The layer as Ollama's JSON object."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.from_:
            out["from"] = self.from_
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, data: object, *, where: str = "layer") -> Layer:
        """Build a layer from its JSON object.

        Raises:
            StoreError: a field is missing or has the wrong type, or the digest is invalid.
        """
        if not isinstance(data, dict):
            raise StoreError(f"{where} is not a JSON object")
        media_type = data.get("mediaType")
        digest = data.get("digest")
        size = data.get("size")
        if not isinstance(media_type, str) or not media_type:
            raise StoreError(f'{where} has an invalid mediaType "{media_type}"')
        if not isinstance(digest, str):
            raise StoreError(f'{where} has an invalid digest "{digest}"')
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise StoreError(f'{where} has an invalid size "{size}"')
        from_ = _optional_str(data, "from", where)
        name = _optional_str(data, "name", where)
        try:
            return cls(media_type, digest, size, from_=from_, name=name)
        except InvalidDigest as exc:
            raise StoreError(f"{where}: {exc}") from exc


def _optional_str(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise StoreError(f'{where} has an invalid {key} "{value}"')
    return value


@dataclass(frozen=True, slots=True)
class Manifest:
    """A model's manifest: one config blob and its ordered layers."""

    config: Layer
    layers: tuple[Layer, ...]
    schema_version: int = 2
    media_type: str = MEDIA_MANIFEST

    def to_json(self) -> bytes:
        """The manifest as compact JSON, in the field order Ollama writes."""
        doc = {
            "schemaVersion": self.schema_version,
            "mediaType": self.media_type,
            "config": self.config.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, source: str | Path | None = None) -> Manifest:
        """Parse and validate manifest bytes.

        Args:
            data: the manifest file's bytes.
            source: the file (or URL) they came from, named in error messages.

        Raises:
            StoreError: the bytes are not a valid schema 2 manifest.
        """
        where = f'manifest "{source}"' if source is not None else "manifest"
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"{where} is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise StoreError(f"{where} is nested too deeply") from exc
        if not isinstance(doc, dict):
            raise StoreError(f"{where} is not a JSON object")
        version = doc.get("schemaVersion")
        if isinstance(version, bool) or version != 2:
            raise StoreError(f'{where} has unsupported schemaVersion "{version}"; expected 2')
        media_type = doc.get("mediaType", MEDIA_MANIFEST)
        if media_type not in _MANIFEST_TYPES:
            raise StoreError(f'{where} has unsupported mediaType "{media_type}"')
        if "config" not in doc:
            raise StoreError(f"{where} has no config")
        config = Layer.from_dict(doc["config"], where=f"{where} config")
        raw_layers = doc.get("layers")
        if raw_layers is None:  # Go marshals a nil slice as null
            raw_layers = []
        if not isinstance(raw_layers, list):
            raise StoreError(f"{where} layers is not a JSON array")
        layers = tuple(
            Layer.from_dict(item, where=f"{where} layer {index}")
            for index, item in enumerate(raw_layers)
        )
        return cls(config=config, layers=layers, schema_version=2, media_type=media_type)

    @property
    def size(self) -> int:
        """Bytes of every layer plus the config blob, as `/api/tags` reports."""
        return self.config.size + sum(layer.size for layer in self.layers)

    def digests(self) -> set[str]:
        """Every blob digest the manifest references, config included."""
        return {self.config.digest, *(layer.digest for layer in self.layers)}

    def layers_of(self, *media_types: str) -> tuple[Layer, ...]:
        """The layers with one of the given media types, in manifest order."""
        return tuple(layer for layer in self.layers if layer.media_type in media_types)

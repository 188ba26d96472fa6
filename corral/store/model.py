"""What a stored model is once loaded: `StoredModel`, built from a manifest and its blobs.

The layers are interpreted as Ollama's `GetModel` does: the model, draft, adapter and
projector layers become blob paths; template, system, params, messages and license
layers are read (they are small, and bounded here); where a kind repeats, the last
template, system and messages win, params merge, and licenses accumulate.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corral.errors import StoreError
from corral.names import ModelName
from corral.store.blobs import BlobStore
from corral.store.manifests import (
    MEDIA_ADAPTER,
    MEDIA_DRAFT,
    MEDIA_EMBED,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_PROMPT,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    Manifest,
)

__all__ = [
    "MAX_TEXT_LAYER_BYTES",
    "StoredModel",
    "build_stored_model",
    "read_json_layer",
    "read_text_layer",
]

logger = logging.getLogger(__name__)

MAX_TEXT_LAYER_BYTES = 16 << 20
"""Config, template, system, params, messages and license blobs are read into memory."""


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model as the store holds it: its manifest and what its layers say."""

    name: ModelName
    manifest: Manifest
    digest: str
    """Hex sha256 of the manifest file's bytes (no prefix), as `/api/tags` reports."""
    modified_at: datetime
    """The manifest's mtime, timezone-aware UTC."""
    size: int
    """Sum of the layer sizes and the config size."""
    config: dict[str, Any]
    """The parsed config blob (`model_format`, `model_family`, `file_type`...); {} when absent."""
    model_path: Path | None
    adapters: tuple[Path, ...]
    projectors: tuple[Path, ...]
    template: str | None
    system: str | None
    params: dict[str, Any]
    messages: list[dict[str, Any]]
    license: tuple[str, ...]
    draft_path: Path | None = None
    parent_model: str | None = None
    """The `from` of the model layer: the model this one was created from, if recorded."""
    extra_layers: tuple[Layer, ...] = field(default=())
    """Layers this loader does not interpret (tensor and json layers of safetensors models)."""


def read_text_layer(blobs: BlobStore, layer: Layer) -> str:
    """A text layer's content (template, system, license), decoded as UTF-8.

    Raises:
        BlobNotFound: the blob is missing.
        StoreError: it is larger than `MAX_TEXT_LAYER_BYTES`.
    """
    data = blobs.read_bytes(layer.digest, limit=MAX_TEXT_LAYER_BYTES)
    return data.decode("utf-8", errors="replace")


def read_json_layer(blobs: BlobStore, layer: Layer) -> Any:
    """A JSON layer's content (params, messages, config).

    Raises:
        BlobNotFound: the blob is missing.
        StoreError: it is too large or not valid JSON.
    """
    data = blobs.read_bytes(layer.digest, limit=MAX_TEXT_LAYER_BYTES)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise StoreError(f'blob "{layer.digest}" is not valid JSON: {exc}') from exc


def build_stored_model(
    blobs: BlobStore, name: ModelName, manifest: Manifest, data: bytes, mtime: float
) -> StoredModel:
    """Load what a manifest's layers say.

    Args:
        blobs: where the layers live.
        name: the model's name as stored.
        manifest: the parsed manifest.
        data: the manifest file's bytes (its sha256 is the model's digest).
        mtime: the manifest file's mtime.

    Raises:
        StoreError: a layer blob is missing, too large, or malformed.
    """
    config: dict[str, Any] = {}
    if blobs.exists(manifest.config.digest):
        loaded = read_json_layer(blobs, manifest.config)
        if not isinstance(loaded, dict):
            raise StoreError(f'config blob "{manifest.config.digest}" is not a JSON object')
        config = loaded
    values = _LayerValues()
    for layer in manifest.layers:
        if not blobs.exists(layer.digest):
            raise StoreError(
                f'model "{name.display}" is missing blob "{layer.digest}"; pull or create it again'
            )
        values.add(blobs, layer)
    return StoredModel(
        name=name,
        manifest=manifest,
        digest=hashlib.sha256(data).hexdigest(),
        modified_at=datetime.fromtimestamp(mtime, tz=UTC),
        size=manifest.size,
        config=config,
        model_path=values.model_path,
        adapters=tuple(values.adapters),
        projectors=tuple(values.projectors),
        template=values.template,
        system=values.system,
        params=values.params,
        messages=values.messages,
        license=tuple(values.licenses),
        draft_path=values.draft_path,
        parent_model=values.parent_model,
        extra_layers=tuple(values.extra),
    )


class _LayerValues:
    """What a manifest's layers add up to, in Ollama's `GetModel` order (last one wins)."""

    def __init__(self) -> None:
        self.model_path: Path | None = None
        self.draft_path: Path | None = None
        self.parent_model: str | None = None
        self.adapters: list[Path] = []
        self.projectors: list[Path] = []
        self.template: str | None = None
        self.system: str | None = None
        self.params: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self.licenses: list[str] = []
        self.extra: list[Layer] = []

    def add(self, blobs: BlobStore, layer: Layer) -> None:
        kind = layer.media_type
        if kind == MEDIA_MODEL:
            self.model_path = blobs.path(layer.digest)
            self.parent_model = layer.from_
        elif kind == MEDIA_DRAFT:
            self.draft_path = blobs.path(layer.digest)
        elif kind == MEDIA_ADAPTER:
            self.adapters.append(blobs.path(layer.digest))
        elif kind == MEDIA_PROJECTOR:
            self.projectors.append(blobs.path(layer.digest))
        elif kind in (MEDIA_TEMPLATE, MEDIA_PROMPT):
            self.template = read_text_layer(blobs, layer)
        elif kind == MEDIA_SYSTEM:
            self.system = read_text_layer(blobs, layer)
        elif kind == MEDIA_LICENSE:
            self.licenses.append(read_text_layer(blobs, layer))
        elif kind == MEDIA_PARAMS:
            params = read_json_layer(blobs, layer)
            if not isinstance(params, dict):
                raise StoreError(f'params blob "{layer.digest}" is not a JSON object')
            self.params.update(params)
        elif kind == MEDIA_MESSAGES:
            messages = read_json_layer(blobs, layer)
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise StoreError(f'messages blob "{layer.digest}" is not a JSON array of objects')
            self.messages = messages
        elif kind == MEDIA_EMBED:
            logger.warning("ignoring deprecated embed layer %s", layer.digest)
        else:
            self.extra.append(layer)

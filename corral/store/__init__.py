"""The content-addressed model store, laid out exactly as Ollama's `~/.ollama/models`.

```
<models>/blobs/sha256-<hex>                          blobs: weights, templates, config
<models>/manifests/<host>/<namespace>/<model>/<tag>  Docker v2 schema 2 manifests
<models>/.lock                                       flock taken by every mutation
```
"""

from __future__ import annotations

from corral.store.blobs import BlobStore
from corral.store.digests import blob_filename, digest_hex, is_digest, parse_digest
from corral.store.locking import Lease
from corral.store.manifests import (
    MEDIA_ADAPTER,
    MEDIA_CONFIG,
    MEDIA_DRAFT,
    MEDIA_LICENSE,
    MEDIA_MANIFEST,
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
from corral.store.model import StoredModel
from corral.store.store import Store

__all__ = [
    "MEDIA_ADAPTER",
    "MEDIA_CONFIG",
    "MEDIA_DRAFT",
    "MEDIA_LICENSE",
    "MEDIA_MANIFEST",
    "MEDIA_MESSAGES",
    "MEDIA_MODEL",
    "MEDIA_PARAMS",
    "MEDIA_PROJECTOR",
    "MEDIA_PROMPT",
    "MEDIA_SYSTEM",
    "MEDIA_TEMPLATE",
    "BlobStore",
    "Layer",
    "Lease",
    "Manifest",
    "Store",
    "StoredModel",
    "blob_filename",
    "digest_hex",
    "is_digest",
    "parse_digest",
]

"""The registry's storage: content-addressed blobs, tag links, and resumable upload sessions.

```
<root>/blobs/sha256-<hex>                              blobs and manifests, by digest
<root>/repositories/<namespace>/<model>/tags/<tag>     the digest of the tag's manifest
<root>/uploads/<uuid>                                  an upload in progress (appended to)
```

Blobs go through the local store's `BlobStore`, so they are hashed, fsynced and renamed
into place: nothing under a digest name is ever partial or unverified. Tags are written
with `atomic_write`. Names and digests are validated before any path is built.
Synchronous; the server calls it from threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import uuid
from pathlib import Path

from corral.errors import BlobNotFound, DigestMismatch, InvalidRequest, NotFound, StoreError
from corral.names import is_valid_part
from corral.store.blobs import CHUNK_SIZE, BlobStore
from corral.store.digests import parse_digest, sha256_digest
from corral.store.files import atomic_write, os_error, read_limited, scan_dir
from corral.store.manifests import Manifest

__all__ = ["MAX_MANIFEST_BYTES", "RegistryStorage", "Repository", "check_tag"]

MAX_MANIFEST_BYTES = 32 << 20
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class Repository:
    """A validated `<namespace>/<model>` repository name, folded to lower case for storage."""

    def __init__(self, namespace: str, model: str) -> None:
        if not (is_valid_part("namespace", namespace) and is_valid_part("model", model)):
            raise InvalidRequest(f'invalid repository name "{namespace}/{model}"')
        self.namespace = namespace.casefold()
        self.model = model.casefold()

    def __str__(self) -> str:
        return f"{self.namespace}/{self.model}"


def check_tag(tag: str) -> str:
    if not is_valid_part("tag", tag):
        raise InvalidRequest(f'invalid tag "{tag}"')
    return tag.casefold()


class RegistryStorage:
    """Blobs, manifests, tags and uploads under one root directory.

    Args:
        root: the registry's directory; created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = BlobStore(self.root / "blobs")
        self.uploads = self.root / "uploads"
        self.repositories = self.root / "repositories"
        self._lock = threading.Lock()  # tag writes, manifest puts and deletes take turns

    # -- manifests and tags --------------------------------------------------------------

    def _tag_path(self, repo: Repository, tag: str) -> Path:
        return self.repositories / repo.namespace / repo.model / "tags" / check_tag(tag)

    def resolve(self, repo: Repository, reference: str) -> str | None:
        """The manifest digest a tag or digest reference names in `repo`, if stored."""
        if reference.startswith("sha256:"):
            digest = parse_digest(reference)
            return digest if digest in self._repo_digests(repo) else None
        try:
            data, _ = read_limited(self._tag_path(repo, reference), 100, "tag")
        except FileNotFoundError:
            return None
        digest = parse_digest(data.decode("ascii", "replace").strip())
        return digest if self.blobs.exists(digest) else None

    def _repo_digests(self, repo: Repository) -> set[str]:
        found = set()
        for entry in scan_dir(self.repositories / repo.namespace / repo.model / "tags"):
            with contextlib.suppress(OSError, StoreError, InvalidRequest):
                data, _ = read_limited(Path(entry.path), 100, "tag")
                found.add(parse_digest(data.decode("ascii", "replace").strip()))
        return found

    def read_manifest(self, digest: str) -> bytes:
        return self.blobs.read_bytes(digest, limit=MAX_MANIFEST_BYTES)

    def put_manifest(self, repo: Repository, reference: str, data: bytes) -> str:
        """Store a manifest under a tag (or check it against a digest reference).

        Raises:
            InvalidRequest: the manifest is malformed, or does not hash to the digest named.
            BlobNotFound: it references a blob the registry does not hold.
        """
        manifest = Manifest.from_json(data, source=f"{repo}:{reference}")
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and parse_digest(reference) != digest:
            raise DigestMismatch(f'manifest hashes to "{digest}", not "{reference}"')
        with self._lock:
            for layer in (manifest.config, *manifest.layers):
                size = self.blobs.size(layer.digest)
                if size is None:
                    raise BlobNotFound(f'blob "{layer.digest}" is not in the registry')
                if size != layer.size:
                    raise InvalidRequest(
                        f'blob "{layer.digest}" is {size} bytes but the manifest says {layer.size}'
                    )
            self.blobs.write([data], expected=digest)
            if not reference.startswith("sha256:"):
                atomic_write(self._tag_path(repo, reference), digest.encode() + b"\n")
        return digest

    def delete_manifest(self, repo: Repository, reference: str) -> bool:
        """Untag: a tag reference removes that tag; a digest removes every tag naming it."""
        with self._lock:
            tags = self.repositories / repo.namespace / repo.model / "tags"
            removed = False
            if reference.startswith("sha256:"):
                digest = parse_digest(reference)
                for entry in scan_dir(tags):
                    with contextlib.suppress(OSError, StoreError, InvalidRequest):
                        data, _ = read_limited(Path(entry.path), 100, "tag")
                        if parse_digest(data.decode("ascii", "replace").strip()) == digest:
                            os.unlink(entry.path)
                            removed = True
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._tag_path(repo, reference))
                    removed = True
            return removed

    def tags(self, repo: Repository) -> list[str] | None:
        directory = self.repositories / repo.namespace / repo.model / "tags"
        if not directory.is_dir():
            return None
        return sorted(e.name for e in scan_dir(directory) if is_valid_part("tag", e.name))

    def catalog(self) -> list[str]:
        names = []
        for ns in scan_dir(self.repositories):
            for model in scan_dir(Path(ns.path)):
                if any(scan_dir(Path(model.path) / "tags")):
                    names.append(f"{ns.name}/{model.name}")
        return sorted(names)

    def referenced(self) -> set[str]:
        """Digests any tagged manifest (or the manifests themselves) use."""
        used: set[str] = set()
        for ns in scan_dir(self.repositories):
            for model in scan_dir(Path(ns.path)):
                for digest in self._repo_digests(Repository(ns.name, model.name)):
                    used.add(digest)
                    with contextlib.suppress(StoreError, InvalidRequest, OSError):
                        used |= Manifest.from_json(self.read_manifest(digest)).digests()
        return used

    def delete_blob(self, digest: str) -> str:
        """Remove a blob no tagged manifest uses: "deleted", "missing" or "in use"."""
        digest = parse_digest(digest)
        with self._lock:
            if not self.blobs.exists(digest):
                return "missing"
            if digest in self.referenced():
                return "in use"
            self.blobs.remove(digest)
            return "deleted"

    # -- uploads -------------------------------------------------------------------------

    def start_upload(self) -> str:
        upload_id = uuid.uuid4().hex
        try:
            self.uploads.mkdir(parents=True, exist_ok=True)
            with open(self.uploads / upload_id, "xb"):
                pass
        except OSError as exc:
            raise os_error("create", self.uploads / upload_id, exc) from exc
        return upload_id

    def upload_path(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise NotFound(f'upload "{upload_id[:64]}" not found')
        path = self.uploads / upload_id
        if not path.is_file():
            raise NotFound(f'upload "{upload_id}" not found')
        return path

    def upload_offset(self, upload_id: str) -> int:
        return self.upload_path(upload_id).stat().st_size

    def cancel_upload(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.upload_path(upload_id))

    def finish_upload(self, upload_id: str, digest: str) -> int:
        """Verify an upload against `digest` and move it into the blobs; returns its size.

        Raises:
            DigestMismatch: it hashes to something else; the upload is discarded.
        """
        want = parse_digest(digest)
        path = self.upload_path(upload_id)
        hasher = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as source:
                while chunk := source.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    size += len(chunk)
            actual = "sha256:" + hasher.hexdigest()
            if actual != want:
                raise DigestMismatch(f'upload hashes to "{actual}", not "{want}"')
            self.blobs.commit_file(path, want, size)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return size

"""The model store: Ollama's `<models>/{blobs,manifests}` layout, read and written safely.

`Store` resolves names (case-insensitively, as Ollama does), loads models with their
text layers, and saves, copies, deletes and prunes under one lock (`StoreLock`), so a
manifest never points at a blob that a concurrent delete or prune removed. Manifests
are written atomically (temp file, fsync, rename); a corrupt one is reported, never
trusted, and stops pruning altogether. Synchronous; the daemon calls it from threads.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corral.errors import BlobNotFound, CorralError, ModelNotFound, StoreError
from corral.names import ModelName, is_valid_part
from corral.store.blobs import BlobStore
from corral.store.files import (
    TEMP_MARK,
    atomic_write,
    fsync_dir,
    is_dir_entry,
    is_file_entry,
    os_error,
    read_limited,
    scan_dir,
)
from corral.store.locking import Lease, LeaseTable, StoreLock
from corral.store.manifests import MEDIA_CONFIG, Layer, Manifest
from corral.store.model import (
    StoredModel,
    build_stored_model,
    read_json_layer,
    read_text_layer,
)

__all__ = ["MANIFEST_MODE", "MAX_MANIFEST_BYTES", "Store", "StoredModel"]

logger = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 32 << 20
"""Manifests of safetensors models list one layer per tensor, so allow a few MB."""
MANIFEST_MODE = 0o644


class Store:
    """A model store rooted at `root` (Ollama's `~/.ollama/models` layout works as is).

    A pull or create leases the digests it is about to write, writes the blobs, then
    saves the manifest; a concurrent delete or prune leaves leased blobs alone:

        with store.lease() as lease:
            lease.add(expected_digest)
            store.blobs.write(chunks, expected=expected_digest)
            store.save(name, layers, config)

    Args:
        root: the models directory; `blobs/` and `manifests/` are created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = BlobStore(self.root / "blobs")
        self.manifests_root = self.root / "manifests"
        self._lock = StoreLock(self.root / ".lock")
        self._leases = LeaseTable.for_root(self.root)

    # -- names -------------------------------------------------------------------------

    def manifest_path(self, name: ModelName) -> Path:
        """Where the manifest for exactly this spelling of `name` lives."""
        path = self.manifests_root.joinpath(*name.parts)
        base = os.path.normpath(self.manifests_root)
        if os.path.commonpath([base, os.path.normpath(path)]) != base:  # pragma: no cover
            raise StoreError(f'model name "{name.full}" escapes the store')
        return path

    def names(self) -> list[ModelName]:
        """Every model name with a manifest file, in path order."""
        return [name for name, _ in self._manifest_files()]

    def _manifest_files(self) -> builtins.list[tuple[ModelName, Path]]:
        """Every `manifests/<host>/<namespace>/<model>/<tag>` file whose parts are valid."""
        kinds = ("host", "namespace", "model")
        dirs: list[tuple[Path, tuple[str, ...]]] = [(self.manifests_root, ())]
        found: list[tuple[ModelName, Path]] = []
        for depth in range(4):
            next_dirs: list[tuple[Path, tuple[str, ...]]] = []
            for directory, parts in dirs:
                for entry in scan_dir(directory):
                    if depth < 3:
                        if is_valid_part(kinds[depth], entry.name) and is_dir_entry(entry):
                            next_dirs.append((Path(entry.path), (*parts, entry.name)))
                    elif is_valid_part("tag", entry.name) and is_file_entry(entry):
                        host, namespace, model = parts
                        found.append(
                            (ModelName(host, namespace, model, entry.name), Path(entry.path))
                        )
            dirs = next_dirs
        found.sort(key=lambda item: item[0].parts)
        return found

    def _find(self, name: ModelName) -> tuple[ModelName, Path] | None:
        exact = self.manifest_path(name)
        if exact.is_file():
            return name, exact
        key = name.key()
        for candidate, path in self._manifest_files():
            if candidate.key() == key:
                return dataclasses.replace(candidate, scheme=name.scheme), path
        return None

    def _target(self, name: ModelName) -> tuple[ModelName, Path]:
        """The existing manifest a write to `name` replaces, or where a new one goes."""
        return self._find(name) or (name, self.manifest_path(name))

    def resolve(self, name: str | ModelName) -> ModelName:
        """The stored spelling of `name`, matched case-insensitively.

        Raises:
            InvalidModelName: `name` is not a valid model name.
            ModelNotFound: no manifest matches.
        """
        return self._require(name)[0]

    def _require(self, name: str | ModelName) -> tuple[ModelName, Path]:
        found = self._find(_coerce(name))
        if found is None:
            raise ModelNotFound(f'model "{_shown(name)}" not found')
        return found

    def exists(self, name: str | ModelName) -> bool:
        """Whether a manifest matches `name` (case-insensitively)."""
        return self._find(_coerce(name)) is not None

    # -- reading -------------------------------------------------------------------------

    def get(self, name: str | ModelName) -> StoredModel:
        """Load a model: its manifest, config and text layers.

        Raises:
            ModelNotFound: no manifest matches `name`.
            StoreError: the manifest or one of its blobs is corrupt or missing.
        """
        found, path = self._require(name)
        try:
            return self._load(found, path)
        except FileNotFoundError as exc:  # deleted between lookup and read
            raise ModelNotFound(f'model "{_shown(name)}" not found') from exc

    def list(self) -> list[StoredModel]:
        """Every loadable model, newest first; corrupt ones are skipped with a warning."""
        models: list[StoredModel] = []
        for name, path in self._manifest_files():
            try:
                models.append(self._load(name, path))
            except FileNotFoundError:
                continue
            except (CorralError, OSError) as exc:
                logger.warning("skipping model %s: %s", name.display, exc)
        models.sort(key=lambda m: m.name.parts)
        models.sort(key=lambda m: m.modified_at, reverse=True)
        return models

    def read_manifest(self, name: str | ModelName) -> tuple[Manifest, bytes]:
        """A model's parsed manifest and its raw bytes (what push sends)."""
        _, path = self._require(name)
        data, _ = read_limited(path, MAX_MANIFEST_BYTES, "manifest")
        return Manifest.from_json(data, source=path), data

    def read_text_layer(self, layer: Layer) -> str:
        """A text layer's content (template, system, license), decoded as UTF-8."""
        return read_text_layer(self.blobs, layer)

    def read_json_layer(self, layer: Layer) -> Any:
        """A JSON layer's content (params, messages).

        Raises:
            StoreError: the blob is too large or not valid JSON.
        """
        return read_json_layer(self.blobs, layer)

    def verify(self, name: str | ModelName) -> None:
        """Re-hash every blob of a model.

        Raises:
            BlobNotFound: a blob is missing.
            DigestMismatch: a blob is corrupt on disk.
        """
        manifest, _ = self.read_manifest(name)
        for digest in sorted(manifest.digests()):
            self.blobs.verify(digest)

    def _load(self, name: ModelName, path: Path) -> StoredModel:
        data, st = read_limited(path, MAX_MANIFEST_BYTES, "manifest")
        manifest = Manifest.from_json(data, source=path)
        return build_stored_model(self.blobs, name, manifest, data, st.st_mtime)

    # -- writing -------------------------------------------------------------------------

    def lease(self) -> Lease:
        """A lease that protects blobs a pull or create wrote until its manifest is saved."""
        return Lease(self._leases)

    def save(
        self,
        name: str | ModelName,
        layers: Sequence[Layer],
        config: Mapping[str, Any],
        *,
        prune_old: bool = True,
    ) -> StoredModel:
        """Write a model: its config blob, then its manifest, atomically.

        An existing model whose name matches case-insensitively is replaced in place.

        Args:
            name: the model to write.
            layers: its layers, in order; every blob must already be stored.
            config: the config object (`model_format`, `model_family`, ...).
            prune_old: remove blobs of the replaced manifest that nothing else uses.

        Raises:
            BlobNotFound: a layer's blob is not in the store.
            StoreError: a blob's size disagrees with its layer, or a write failed.
        """
        parsed = _coerce(name)
        config_bytes = json.dumps(dict(config), separators=(",", ":"), ensure_ascii=False).encode()
        with self._lock.hold():
            for layer in layers:
                size = self.blobs.size(layer.digest)
                if size is None:
                    raise BlobNotFound(
                        f'blob "{layer.digest}" not found; '
                        f'upload it before saving "{parsed.display}"'
                    )
                if size != layer.size:
                    raise StoreError(
                        f'blob "{layer.digest}" is {size} bytes but its layer says {layer.size}'
                    )
            config_digest, config_size = self.blobs.write_bytes(config_bytes)
            manifest = Manifest(
                config=Layer(MEDIA_CONFIG, config_digest, config_size), layers=tuple(layers)
            )
            target, path = self._target(parsed)
            data = manifest.to_json()
            # Read every layer before committing, so a bad params blob fails the save
            # instead of leaving a manifest that cannot be loaded.
            model = build_stored_model(self.blobs, target, manifest, data, time.time())
            old = self._try_parse(path)
            atomic_write(path, data, mode=MANIFEST_MODE)
            if prune_old and old is not None:
                self._remove_unreferenced(old.digests() - manifest.digests())
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                mtime = time.time()
            return dataclasses.replace(model, modified_at=datetime.fromtimestamp(mtime, tz=UTC))

    def save_manifest(
        self, name: str | ModelName, data: bytes, *, prune_old: bool = True
    ) -> set[str]:
        """Write manifest bytes exactly as received (a pull), after checking every blob.

        Under the store lock: a concurrent delete or prune cannot remove a blob between
        the check and the write, so the manifest never points at a missing blob.

        Returns:
            The digests of the replaced manifest that were removed as unused.

        Raises:
            StoreError: the bytes are not a valid manifest, or a blob's size disagrees.
            BlobNotFound: a blob it references is not stored.
        """
        parsed = _coerce(name)
        manifest = Manifest.from_json(data, source=parsed.display)
        with self._lock.hold():
            for layer in (manifest.config, *manifest.layers):
                size = self.blobs.size(layer.digest)
                if size is None:
                    raise BlobNotFound(f'blob "{layer.digest}" of "{parsed.display}" is missing')
                if size != layer.size:
                    raise StoreError(
                        f'blob "{layer.digest}" is {size} bytes but its layer says {layer.size}'
                    )
            _, path = self._target(parsed)
            old = self._try_parse(path)
            atomic_write(path, data, mode=MANIFEST_MODE)
            unused = (old.digests() - manifest.digests()) if old is not None else set()
            if prune_old and unused:
                before = self.blobs.digests()
                self._remove_unreferenced(unused)
                return unused & (before - self.blobs.digests())
            return set()

    def copy(self, source: str | ModelName, destination: str | ModelName) -> None:
        """Copy a model's manifest to another name; the blobs are shared.

        Raises:
            ModelNotFound: `source` does not exist.
            InvalidModelName: either name is invalid.
            StoreError: the source manifest is corrupt or references a missing blob.
        """
        destination_name = _coerce(destination)
        _coerce(source)
        with self._lock.hold():
            _, source_path = self._require(source)
            data, _ = read_limited(source_path, MAX_MANIFEST_BYTES, "manifest")
            manifest = Manifest.from_json(data, source=source_path)
            for layer in manifest.layers:
                if not self.blobs.exists(layer.digest):
                    raise StoreError(
                        f'model "{_shown(source)}" is missing blob "{layer.digest}"; '
                        "pull or create it again"
                    )
            _, target_path = self._target(destination_name)
            if target_path != source_path:
                atomic_write(target_path, data, mode=MANIFEST_MODE)

    def delete(self, name: str | ModelName, *, prune: bool = True) -> None:
        """Remove a model's manifest and, if `prune`, the blobs no other model uses.

        A corrupt manifest can be deleted too; its blobs are then left for `prune`.

        Raises:
            ModelNotFound: no manifest matches `name`.
        """
        _coerce(name)  # an invalid name fails before the lock file is created
        with self._lock.hold():
            _, path = self._require(name)
            manifest = self._try_parse(path)
            try:
                os.unlink(path)
            except FileNotFoundError as exc:
                raise ModelNotFound(f'model "{_shown(name)}" not found') from exc
            except OSError as exc:
                raise os_error("remove", path, exc) from exc
            fsync_dir(path.parent)
            self._remove_empty_dirs(path.parent)
            if prune and manifest is not None:
                self._remove_unreferenced(manifest.digests())

    def prune(self, *, grace_seconds: float = 3600) -> int:
        """Remove unreferenced blobs, stale temp files and empty manifest directories.

        Files touched within `grace_seconds` and leased blobs are kept. If any manifest
        cannot be read, nothing is removed: its blobs might still be needed.

        Returns:
            How many files were removed.
        """
        with self._lock.hold():
            referenced, corrupt = self._referenced()
            if corrupt:
                logger.warning(
                    "corrupt manifests detected, skipping prune: %s",
                    ", ".join(str(p) for p in corrupt),
                )
                return 0
            keep = referenced | self._leases.snapshot()
            cutoff = time.time() - grace_seconds
            removed = 0
            blobs, _ = self.blobs.entries()
            for digest, mtime in blobs:
                if digest not in keep and mtime < cutoff:
                    self.blobs.remove(digest)
                    removed += 1
            removed += self.blobs.remove_stale_temp_files(grace_seconds)
            removed += self._remove_manifest_temps(cutoff)
            for directory, _dirs, _files in os.walk(self.manifests_root, topdown=False):
                if Path(directory) != self.manifests_root:
                    with contextlib.suppress(OSError):
                        os.rmdir(directory)
            if removed:
                fsync_dir(self.blobs.root)
            return removed

    # -- helpers -------------------------------------------------------------------------

    def _try_parse(self, path: Path) -> Manifest | None:
        try:
            data, _ = read_limited(path, MAX_MANIFEST_BYTES, "manifest")
            return Manifest.from_json(data, source=path)
        except FileNotFoundError:
            return None
        except (StoreError, OSError) as exc:
            logger.warning("unreadable manifest %s: %s", path, exc)
            return None

    def _referenced(self) -> tuple[set[str], builtins.list[Path]]:
        referenced: set[str] = set()
        corrupt: builtins.list[Path] = []
        for _, path in self._manifest_files():
            try:
                data, _ = read_limited(path, MAX_MANIFEST_BYTES, "manifest")
                referenced |= Manifest.from_json(data, source=path).digests()
            except FileNotFoundError:
                continue
            except (StoreError, OSError):
                corrupt.append(path)
        return referenced, corrupt

    def _remove_unreferenced(self, candidates: set[str]) -> None:
        if not candidates:
            return
        referenced, corrupt = self._referenced()
        if corrupt:
            logger.warning("corrupt manifests detected, keeping blobs %s", sorted(candidates))
            return
        for digest in sorted(candidates - referenced - self._leases.snapshot()):
            self.blobs.remove(digest)
        fsync_dir(self.blobs.root)

    def _remove_empty_dirs(self, directory: Path) -> None:
        while directory != self.manifests_root and self.manifests_root in directory.parents:
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = directory.parent

    def _remove_manifest_temps(self, cutoff: float) -> int:
        removed = 0
        for directory, _dirs, files in os.walk(self.manifests_root):
            for filename in files:
                if not (filename.startswith(".") and TEMP_MARK in filename):
                    continue
                path = Path(directory, filename)
                with contextlib.suppress(OSError):
                    if path.lstat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
        return removed


def _coerce(name: str | ModelName) -> ModelName:
    return name if isinstance(name, ModelName) else ModelName.parse(name)


def _shown(name: str | ModelName) -> str:
    return name.display if isinstance(name, ModelName) else name

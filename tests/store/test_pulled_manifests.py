"""What pull needs from the store: partial-file names, committing a hashed file, saving
received manifest bytes, and pulls racing deletes without a manifest losing a blob."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from corral.errors import BlobNotFound, InvalidDigest, StoreError
from corral.store import MEDIA_MODEL, Layer, Manifest, Store
from corral.store.digests import sha256_digest


def _manifest(store: Store, *payloads: bytes) -> bytes:
    config = store.blobs.write_bytes(b"{}")
    layers = tuple(Layer(MEDIA_MODEL, *store.blobs.write_bytes(p)) for p in payloads)
    return Manifest(
        config=Layer("application/vnd.docker.container.image.v1+json", *config), layers=layers
    ).to_json()


def test_partial_paths_are_built_from_validated_digests(store: Store) -> None:
    digest = "sha256:" + "c" * 64
    assert store.blobs.partial_path(digest).name == "sha256-" + "c" * 64 + "-partial"
    assert store.blobs.part_state_path(digest, 3).name == "sha256-" + "c" * 64 + "-partial-3"
    for bad in ("../../x", "sha256:" + "c" * 63, ""):
        with pytest.raises(InvalidDigest):
            store.blobs.partial_path(bad)


def test_commit_file_moves_a_hashed_partial_into_place(store: Store) -> None:
    data = b"downloaded weights"
    digest = sha256_digest(data)
    partial = store.blobs.partial_path(digest)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(data)
    assert not store.blobs.exists(digest)
    store.blobs.commit_file(partial, digest, len(data))
    assert store.blobs.exists(digest) and not partial.exists()
    store.blobs.verify(digest)


def test_save_manifest_keeps_the_exact_bytes_and_refuses_missing_blobs(store: Store) -> None:
    data = _manifest(store, b"weights")
    store.save_manifest("host:5000/team/m:v1", data)
    assert store.read_manifest("host:5000/team/m:v1")[1] == data
    doc = json.loads(data)
    doc["layers"][0]["digest"] = "sha256:" + "d" * 64
    with pytest.raises(BlobNotFound):
        store.save_manifest("host:5000/team/other:v1", json.dumps(doc).encode())
    doc["layers"][0]["digest"] = "../../../etc/passwd"
    with pytest.raises(StoreError):
        store.save_manifest("host:5000/team/other:v1", json.dumps(doc).encode())
    assert not store.exists("host:5000/team/other:v1")


def test_save_manifest_prunes_what_the_replaced_manifest_alone_used(store: Store) -> None:
    store.save_manifest("team/m", _manifest(store, b"old weights"))
    old = sha256_digest(b"old weights")
    removed = store.save_manifest("team/m", _manifest(store, b"new weights"))
    assert removed == {old} and not store.blobs.exists(old)
    kept = store.save_manifest("team/m", _manifest(store, b"newer"), prune_old=False)
    assert kept == set() and store.blobs.exists(sha256_digest(b"new weights"))


def test_pulls_racing_deletes_never_leave_a_manifest_without_its_blob(tmp_path: Path) -> None:
    root = tmp_path / "models"
    shared = b"weights both models use"
    errors: list[BaseException] = []

    def pull(index: int) -> None:
        store = Store(root)  # its own object, as another process would hold
        try:
            for _ in range(30):
                with store.lease() as lease:
                    # What pull does: lease every digest of the manifest, then download.
                    lease.add(sha256_digest(shared))
                    lease.add(sha256_digest(b"{}"))
                    store.save_manifest(f"team/m{index}", _manifest(store, shared))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def delete() -> None:
        store = Store(root)
        for _ in range(60):
            for name in list(store.names()):
                try:
                    store.delete(name)
                except Exception:
                    pass

    threads = [threading.Thread(target=pull, args=(i,)) for i in range(2)]
    threads.append(threading.Thread(target=delete))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = Store(root)
    for name in store.names():
        manifest, _ = store.read_manifest(name)
        for digest in manifest.digests():
            store.blobs.verify(digest)

"""Blobs: atomic, content-addressed writes; nothing half-written is ever visible."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral.store.blobs as blobs_module
from corral.errors import BlobNotFound, DigestMismatch, InvalidDigest, StoreError
from corral.store.blobs import BlobStore
from corral.store.files import os_error


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "models" / "blobs")


def _files(blobs: BlobStore) -> list[str]:
    return sorted(os.listdir(blobs.root)) if blobs.root.exists() else []


def test_write_stores_content_under_its_digest(blobs: BlobStore) -> None:
    data = b"hello world" * 1000
    digest, size = blobs.write([data[:100], b"", data[100:]])
    assert (digest, size) == (_digest(data), len(data))
    path = blobs.root / f"sha256-{hashlib.sha256(data).hexdigest()}"
    assert blobs.path(digest) == path
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert _files(blobs) == [path.name]
    assert blobs.exists(digest)
    assert blobs.exists(digest.replace(":", "-"))
    assert blobs.size(digest) == len(data)
    assert blobs.digests() == {digest}


def test_write_reads_file_objects_and_bytes(blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * blobs_module.CHUNK_SIZE + 17)
    assert blobs.write(io.BytesIO(data)) == (_digest(data), len(data))
    assert blobs.write_bytes(b"abc") == (_digest(b"abc"), 3)
    source = tmp_path / "model.gguf"
    source.write_bytes(b"GGUF weights")
    assert blobs.import_file(source) == (_digest(b"GGUF weights"), 12)
    assert blobs.write([]) == (_digest(b""), 0)


def test_import_missing_file_names_it(blobs: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"nothing\.gguf"):
        blobs.import_file(tmp_path / "nothing.gguf")


def test_expected_digest_that_matches_is_accepted(blobs: BlobStore) -> None:
    assert blobs.write([b"abc"], expected=_digest(b"abc").replace(":", "-"))[0] == _digest(b"abc")


def test_digest_mismatch_keeps_nothing(blobs: BlobStore) -> None:
    wrong = _digest(b"something else")
    with pytest.raises(DigestMismatch) as info:
        blobs.write([b"actual content"], expected=wrong)
    assert str(info.value) == (
        f'digest mismatch, expected "{wrong}", got "{_digest(b"actual content")}"'
    )
    assert _files(blobs) == []  # no temp file, and no blob under either digest


def test_invalid_expected_digest_is_rejected_before_reading(blobs: BlobStore) -> None:
    read: list[int] = []

    def source() -> Iterator[bytes]:
        read.append(1)
        yield b"data"

    with pytest.raises(InvalidDigest):
        blobs.write(source(), expected="sha256:../../etc/passwd")
    assert read == []
    assert not blobs.root.exists()


def test_failing_source_leaves_no_temp_file(blobs: BlobStore) -> None:
    def source() -> Iterator[bytes]:
        yield b"partial data"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):  # the source's own error, not wrapped
        blobs.write(source())
    assert _files(blobs) == []


def test_disk_full_is_a_store_error_and_leaves_no_temp_file(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(out: object, data: bytes, temp: Path) -> None:
        raise os_error("write", temp, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(blobs_module, "_write_all", full)
    with pytest.raises(StoreError, match="No space left on device"):
        blobs.write([b"data"])
    assert _files(blobs) == []


def test_failed_rename_leaves_no_temp_file(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(StoreError, match="Input/output error"):
        blobs.write([b"data"])
    assert _files(blobs) == []


def test_writing_an_existing_blob_keeps_one_file_and_refreshes_mtime(blobs: BlobStore) -> None:
    digest, _ = blobs.write([b"same"])
    old = time.time() - 7200
    os.utime(blobs.path(digest), (old, old))
    inode = blobs.path(digest).stat().st_ino
    assert blobs.write([b"sa", b"me"]) == (digest, 4)
    assert _files(blobs) == [blobs.path(digest).name]
    assert blobs.path(digest).stat().st_ino == inode  # not replaced under a running model
    assert blobs.path(digest).stat().st_mtime > old + 3600


def test_truncated_existing_blob_is_replaced(blobs: BlobStore) -> None:
    data = b"complete content"
    blobs.root.mkdir(parents=True)
    blobs.path(_digest(data)).write_bytes(data[:5])  # e.g. a crash in another tool
    blobs.write([data])
    assert blobs.path(_digest(data)).read_bytes() == data
    blobs.verify(_digest(data))


def test_planted_symlink_is_not_trusted_and_is_replaced(blobs: BlobStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"do not overwrite")
    data = b"blob content"
    blobs.root.mkdir(parents=True)
    blobs.path(_digest(data)).symlink_to(secret)
    assert not blobs.exists(_digest(data))
    assert _digest(data) not in blobs.digests()
    with pytest.raises(StoreError):
        blobs.open(_digest(data))  # O_NOFOLLOW
    blobs.write([data])
    assert secret.read_bytes() == b"do not overwrite"
    assert not blobs.path(_digest(data)).is_symlink()
    assert blobs.path(_digest(data)).read_bytes() == data


def test_verify_detects_corruption(blobs: BlobStore) -> None:
    digest, _ = blobs.write([b"original bytes"])
    blobs.verify(digest)
    path = blobs.path(digest)
    path.chmod(0o644)
    path.write_bytes(b"Original bytes")  # one byte flipped
    with pytest.raises(DigestMismatch, match="digest mismatch"):
        blobs.verify(digest)
    with pytest.raises(BlobNotFound):
        blobs.verify(_digest(b"never stored"))


@pytest.mark.parametrize(
    "digest",
    ["sha256:../../etc/passwd", "../sha256-x", "sha256:" + "A" * 64, "/etc/passwd", ""],
)
def test_paths_are_only_built_from_valid_digests(blobs: BlobStore, digest: str) -> None:
    for operation in (blobs.path, blobs.exists, blobs.remove, blobs.verify, blobs.open):
        with pytest.raises(InvalidDigest):
            operation(digest)


def test_remove_is_idempotent(blobs: BlobStore) -> None:
    digest, _ = blobs.write([b"x"])
    blobs.remove(digest)
    assert not blobs.exists(digest)
    blobs.remove(digest)


def test_read_bytes_is_bounded(blobs: BlobStore) -> None:
    digest, _ = blobs.write([b"x" * 100])
    assert blobs.read_bytes(digest, limit=100) == b"x" * 100
    with pytest.raises(StoreError, match="larger than 99 bytes"):
        blobs.read_bytes(digest, limit=99)


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_strays_are_ignored_and_swept_only_when_stale(blobs: BlobStore) -> None:
    digest, _ = blobs.write([b"real blob"])
    hexdigest = "0" * 64
    old_partial = blobs.root / f"sha256-{hexdigest}-partial"
    old_part_state = blobs.root / f"sha256-{hexdigest}-partial-0"
    old_temp = blobs.root / "tmp-deadbeef"
    fresh_temp = blobs.root / "tmp-fresh"
    legacy_upper = blobs.root / ("sha256-" + "A" * 64)
    directory = blobs.root / "sha256-dir"
    for path in (old_partial, old_part_state, old_temp, fresh_temp, legacy_upper):
        path.write_bytes(b"junk")
    directory.mkdir()
    for path in (
        old_partial,
        old_part_state,
        old_temp,
        legacy_upper,
        blobs.path(digest),
        directory,
    ):
        _age(path, 7200)

    assert blobs.digests() == {digest}
    assert blobs.remove_stale_temp_files(3600) == 4
    assert sorted(_files(blobs)) == sorted([blobs.path(digest).name, "tmp-fresh", "sha256-dir"])
    assert blobs.remove_stale_temp_files(0) == 1
    assert blobs.exists(digest)


def test_empty_store_has_no_digests(blobs: BlobStore) -> None:
    assert blobs.digests() == set()
    assert blobs.remove_stale_temp_files(0) == 0

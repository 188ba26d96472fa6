"""The registry server against the OCI distribution-spec checklist: pull, push, content
discovery, content management; plus digest verification, resumable uploads and tokens."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from corral.errors import ConfigError
from corral.registry.server import create_registry_app, load_tokens

BLOB = b"weights " * 1000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
CONFIG = b'{"model_format":"gguf"}'
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()


def _path(url: str) -> str:
    """The test client takes paths; the registry answers absolute URLs."""
    return str(URL(url).path)


def _manifest(layers: list[tuple[str, int]] | None = None) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": CONFIG_DIGEST,
            "size": len(CONFIG),
        },
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": d, "size": s}
            for d, s in (layers if layers is not None else [(DIGEST, len(BLOB))])
        ],
    }
    return json.dumps(doc).encode()


async def _client(root: Path, tokens: dict[str, str] | None = None) -> TestClient:  # type: ignore[type-arg]
    client = TestClient(TestServer(create_registry_app(root, tokens=tokens)))
    await client.start_server()
    return client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    c = await _client(tmp_path / "registry")
    yield c
    await c.close()


async def _upload(client: TestClient, data: bytes, digest: str, repo: str = "team/m") -> int:  # type: ignore[type-arg]
    """Ollama's way: POST, one PATCH with Content-Range, PUT ?digest=."""
    start = await client.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status == 202
    assert start.headers["Location"].startswith("http://127.0.0.1:")  # absolute, for Ollama
    location = _path(start.headers["Location"])
    patch = await client.patch(location, data=data, headers={"Content-Range": f"0-{len(data) - 1}"})
    assert patch.status == 202
    assert patch.headers["Range"] == f"0-{len(data) - 1}"
    done = await client.put(_path(patch.headers["Location"]) + f"?digest={digest}&etag=x-1")
    return done.status


async def _push(client: TestClient, tag: str = "v1") -> None:  # type: ignore[type-arg]
    assert await _upload(client, BLOB, DIGEST) == 201
    assert await _upload(client, CONFIG, CONFIG_DIGEST) == 201
    put = await client.put(f"/v2/team/m/manifests/{tag}", data=_manifest())
    assert put.status == 201, await put.text()


# -- pull ------------------------------------------------------------------------------------


async def test_pull_manifest_by_tag_and_digest_and_blob_with_range(client: TestClient) -> None:  # type: ignore[type-arg]
    await _push(client)
    by_tag = await client.get("/v2/team/m/manifests/v1")
    assert by_tag.status == 200
    body = await by_tag.read()
    assert body == _manifest()
    digest = by_tag.headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert by_tag.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert await (await client.get(f"/v2/team/m/manifests/{digest}")).read() == body
    head = await client.head("/v2/team/m/manifests/v1")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(body))
    blob = await client.get(f"/v2/team/m/blobs/{DIGEST}")
    assert await blob.read() == BLOB
    assert blob.headers["Docker-Content-Digest"] == DIGEST
    assert blob.headers["Location"].endswith(f"/v2/team/m/blobs/{DIGEST}")  # Ollama needs it
    ranged = await client.get(f"/v2/team/m/blobs/{DIGEST}", headers={"Range": "bytes=8-15"})
    assert ranged.status == 206 and await ranged.read() == BLOB[8:16]
    head_blob = await client.head(f"/v2/team/m/blobs/{DIGEST}")
    assert head_blob.status == 200 and head_blob.headers["Content-Length"] == str(len(BLOB))


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v2/team/m/manifests/nope", 404, "MANIFEST_UNKNOWN"),
        ("/v2/team/m/blobs/sha256:" + "0" * 64, 404, "BLOB_UNKNOWN"),
        ("/v2/team/m/blobs/sha256:..%2F..%2Fetc%2Fpasswd", 400, "DIGEST_INVALID"),
        ("/v2/team/m/blobs/sha256:" + "A" * 64, 400, "DIGEST_INVALID"),
        ("/v2/team/m/manifests/.hidden", 400, "MANIFEST_INVALID"),
        ("/v2/te%20am/m/manifests/v1", 400, "NAME_INVALID"),
        ("/v2/..%2F..%2Fetc/m/tags/list", 400, "NAME_INVALID"),
        ("/v2/team/none/tags/list", 404, "NAME_UNKNOWN"),
    ],
)
async def test_unknown_and_malformed_references(
    client: TestClient,
    path: str,
    status: int,
    code: str,  # type: ignore[type-arg]
) -> None:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert (await response.json())["errors"][0]["code"] == code


# -- push ------------------------------------------------------------------------------------


async def test_wrong_digest_is_rejected_and_nothing_is_stored(
    client: TestClient, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    assert await _upload(client, BLOB, wrong) == 400
    monolithic = await client.post(f"/v2/team/m/blobs/uploads/?digest={wrong}", data=BLOB)
    assert monolithic.status == 400
    assert (await monolithic.json())["errors"][0]["code"] == "DIGEST_INVALID"
    for digest in (wrong, DIGEST):
        assert (await client.head(f"/v2/team/m/blobs/{digest}")).status == 404
    root = tmp_path / "registry"
    assert list((root / "uploads").iterdir()) == []
    blobs = root / "blobs"
    assert not blobs.exists() or list(blobs.iterdir()) == []


async def test_chunked_upload_resumes_from_the_reported_offset(client: TestClient) -> None:  # type: ignore[type-arg]
    start = await client.post("/v2/team/m/blobs/uploads")
    location = _path(start.headers["Location"])
    first = await client.patch(location, data=BLOB[:100], headers={"Content-Range": "0-99"})
    assert first.status == 202
    status = await client.get(location)
    assert status.status == 204 and status.headers["Range"] == "0-99"
    gap = await client.patch(location, data=BLOB[200:], headers={"Content-Range": "200-7999"})
    assert gap.status == 416
    # A client that lost the answer to its last chunk may send it again.
    again = await client.patch(location, data=BLOB[50:100], headers={"Content-Range": "50-99"})
    assert again.headers["Range"] == "0-99"
    rest = await client.patch(
        location, data=BLOB[100:], headers={"Content-Range": f"100-{len(BLOB) - 1}"}
    )
    assert rest.status == 202
    done = await client.put(f"{location}?digest={DIGEST}")
    assert done.status == 201 and done.headers["Docker-Content-Digest"] == DIGEST
    assert await (await client.get(f"/v2/team/m/blobs/{DIGEST}")).read() == BLOB


async def test_cross_mount_and_monolithic_upload(client: TestClient) -> None:  # type: ignore[type-arg]
    put = await client.post(f"/v2/team/a/blobs/uploads/?digest={DIGEST}", data=BLOB)
    assert put.status == 201
    mount = await client.post(f"/v2/team/b/blobs/uploads/?mount={DIGEST}&from=team/a")
    assert mount.status == 201 and mount.headers["Location"].endswith(f"/v2/team/b/blobs/{DIGEST}")
    unknown = "sha256:" + "1" * 64
    fallback = await client.post(f"/v2/team/b/blobs/uploads/?mount={unknown}&from=team/a")
    assert fallback.status == 202  # not mountable: a normal upload session instead


async def test_manifest_with_unknown_blob_or_bad_digest_reference_is_rejected(
    client: TestClient,
) -> None:  # type: ignore[type-arg]
    assert await _upload(client, CONFIG, CONFIG_DIGEST) == 201
    missing = await client.put("/v2/team/m/manifests/v1", data=_manifest())
    assert (await missing.json())["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    bad = await client.put("/v2/team/m/manifests/v1", data=b"{not json")
    assert (await bad.json())["errors"][0]["code"] == "MANIFEST_INVALID"
    body = _manifest([])
    wrong = await client.put("/v2/team/m/manifests/sha256:" + "2" * 64, data=body)
    assert (await wrong.json())["errors"][0]["code"] == "DIGEST_INVALID"
    traversal = _manifest([("../../etc/passwd", 1)])
    refused = await client.put("/v2/team/m/manifests/v1", data=traversal)
    assert (await refused.json())["errors"][0]["code"] == "MANIFEST_INVALID"
    assert (await client.get("/v2/team/m/manifests/v1")).status == 404


# -- content discovery and management ------------------------------------------------------------


async def test_tags_catalog_and_deletes(client: TestClient) -> None:  # type: ignore[type-arg]
    await _push(client, "v1")
    await _push(client, "v2")
    tags = await (await client.get("/v2/team/m/tags/list")).json()
    assert tags == {"name": "team/m", "tags": ["v1", "v2"]}
    assert await (await client.get("/v2/team/m/tags/list?n=1")).json() == {
        "name": "team/m",
        "tags": ["v1"],
    }
    assert await (await client.get("/v2/_catalog")).json() == {"repositories": ["team/m"]}
    in_use = await client.delete(f"/v2/team/m/blobs/{DIGEST}")
    assert in_use.status == 405
    assert (await client.delete("/v2/team/m/manifests/v1")).status == 202
    assert (await client.get("/v2/team/m/manifests/v1")).status == 404
    digest = (await client.get("/v2/team/m/manifests/v2")).headers["Docker-Content-Digest"]
    assert (await client.delete(f"/v2/team/m/manifests/{digest}")).status == 202
    assert (await client.delete(f"/v2/team/m/blobs/{DIGEST}")).status == 202
    assert (await client.get(f"/v2/team/m/blobs/{DIGEST}")).status == 404
    assert await (await client.get("/v2/_catalog")).json() == {"repositories": []}


# -- tokens ------------------------------------------------------------------------------------


async def test_tokens_gate_reads_and_writes_with_a_bearer_challenge(tmp_path: Path) -> None:
    client = await _client(tmp_path / "r", {"reader-token-1": "read", "writer-token-1": "write"})
    try:
        anonymous = await client.get("/v2/team/m/manifests/v1")
        assert anonymous.status == 401
        challenge = anonymous.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="http://127.0.0.1:')
        assert 'scope="repository:team/m:pull"' in challenge
        refused = await client.get("/v2/token", headers={"Authorization": "Bearer wrong-token"})
        assert refused.status == 401
        issued = await client.get("/v2/token", headers={"Authorization": "Bearer reader-token-1"})
        token = (await issued.json())["token"]
        read = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/v2/team/m/manifests/v1", headers=read)).status == 404
        no_write = await client.post("/v2/team/m/blobs/uploads/", headers=read)
        assert no_write.status == 401
        assert "pull,push" in no_write.headers["WWW-Authenticate"]
        write = {"Authorization": "Bearer writer-token-1"}
        assert (await client.post("/v2/team/m/blobs/uploads/", headers=write)).status == 202
        forged = {"Authorization": "Bearer " + token[:-1] + ("0" if token[-1] != "0" else "1")}
        assert (await client.get("/v2/team/m/tags/list", headers=forged)).status == 401
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "holds no tokens"), ("abc read\n", "line 1"), ("long-enough-token admin\n", "line 1")],
)
def test_bad_token_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_tokens(path)


def test_token_file_comments_and_access() -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as out:
        out.write("# team tokens\nreader-token-1 read  # CI\nwriter-token-1 write\n")
    assert load_tokens(Path(out.name)) == {"reader-token-1": "read", "writer-token-1": "write"}

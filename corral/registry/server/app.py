"""The registry's HTTP API: Docker Registry v2 / OCI distribution, as Ollama's client speaks it.

Pull: `GET|HEAD /v2/<ns>/<model>/manifests/<tag|digest>`, `GET|HEAD .../blobs/<digest>`
(with `Range`). Push: `POST .../blobs/uploads/` (`?mount=&from=` cross-mounts, `?digest=`
is a monolithic upload), `PATCH .../blobs/uploads/<id>` (`Content-Range`, resumable),
`PUT .../blobs/uploads/<id>?digest=` (verified: a wrong digest is 400 `DIGEST_INVALID`
and nothing is stored), `PUT .../manifests/<tag>`. Discovery: `.../tags/list`,
`/v2/_catalog`. Management: `DELETE` of manifests, tags and unused blobs.

Blob responses carry `Location` (their own URL) even on 200: Ollama's client takes the
download URL from that header and fails without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from corral.errors import (
    CorralError,
    DigestMismatch,
    InvalidDigest,
    InvalidRequest,
    NotFound,
    StoreError,
)
from corral.registry.protocol import (
    API_VERSION_HEADER,
    API_VERSION_VALUE,
    parse_content_range,
)
from corral.registry.server.auth import READ, WRITE, AccessPolicy
from corral.registry.server.storage import MAX_MANIFEST_BYTES, RegistryStorage, Repository
from corral.store.digests import parse_digest
from corral.store.manifests import MEDIA_MANIFEST, Manifest

__all__ = ["POLICY", "STORAGE", "create_registry_app"]

logger = logging.getLogger(__name__)

STORAGE = web.AppKey("registry_storage", RegistryStorage)
POLICY = web.AppKey("registry_policy", AccessPolicy)
_CHUNK = 1 << 20


class RegistryHTTPError(Exception):
    """An OCI error response: `{"errors": [{"code", "message", "detail"}]}` with a status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _error_response(status: int, code: str, message: str, headers: dict[str, str]) -> web.Response:
    body = {"errors": [{"code": code, "message": message, "detail": {}}]}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except RegistryHTTPError as exc:
        response = _error_response(exc.status, exc.code, exc.message, exc.headers)
    except InvalidDigest as exc:
        response = _error_response(400, "DIGEST_INVALID", str(exc), {})
    except DigestMismatch as exc:
        response = _error_response(400, "DIGEST_INVALID", str(exc), {})
    except CorralError as exc:
        if exc.status >= 500:
            logger.error("%s %s failed: %s", request.method, request.path, exc)
            response = _error_response(500, "UNKNOWN", "internal storage error", {})
        else:
            code = "NAME_UNKNOWN" if exc.status == 404 else "NAME_INVALID"
            response = _error_response(exc.status, code, str(exc), {})
    response.headers.setdefault(API_VERSION_HEADER, API_VERSION_VALUE)
    return response


def _repo(request: web.Request) -> Repository:
    try:
        return Repository(request.match_info["ns"], request.match_info["model"])
    except CorralError as exc:
        raise RegistryHTTPError(400, "NAME_INVALID", str(exc)) from None


def _authorize(request: web.Request, need: str, repo: Repository | None) -> None:
    policy = request.app[POLICY]
    if policy.allows(request.headers.get("Authorization", ""), need):
        return
    actions = "pull" if need == READ else "pull,push"
    scope = f"repository:{repo}:{actions}" if repo is not None else "registry:catalog:*"
    realm = f"{request.scheme}://{request.host}/v2/token"
    challenge = f'Bearer realm="{realm}",service="corral-registry",scope="{scope}"'
    raise RegistryHTTPError(
        401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge}
    )


async def _base(request: web.Request) -> web.Response:
    _authorize(request, READ, None)
    return web.json_response({})


async def _token(request: web.Request) -> web.Response:
    policy = request.app[POLICY]
    if policy.open:
        access: str | None = WRITE
    else:
        access = policy.secret_access(request.headers.get("Authorization", ""))
    if access is None:
        raise RegistryHTTPError(401, "UNAUTHORIZED", "a valid registry token is required")
    token = policy.issue(access)
    return web.json_response({"token": token, "access_token": token, "expires_in": 3600})


async def _catalog(request: web.Request) -> web.Response:
    _authorize(request, READ, None)
    names = await asyncio.to_thread(request.app[STORAGE].catalog)
    last = request.query.get("last")
    if last:
        names = [n for n in names if n > last]
    limit = request.query.get("n")
    if limit and limit.isdigit():
        names = names[: int(limit)]
    return web.json_response({"repositories": names})


async def _tags(request: web.Request) -> web.Response:
    repo = _repo(request)
    _authorize(request, READ, repo)
    tags = await asyncio.to_thread(request.app[STORAGE].tags, repo)
    if tags is None:
        raise RegistryHTTPError(404, "NAME_UNKNOWN", f'repository "{repo}" not found')
    last = request.query.get("last")
    if last:
        tags = [t for t in tags if t > last]
    limit = request.query.get("n")
    if limit and limit.isdigit():
        tags = tags[: int(limit)]
    return web.json_response({"name": str(repo), "tags": tags})


def _reference(request: web.Request) -> str:
    reference = request.match_info["reference"]
    if reference.startswith("sha256"):
        return parse_digest(reference)
    return reference


async def _get_manifest(request: web.Request) -> web.Response:
    repo = _repo(request)
    _authorize(request, READ, repo)
    storage = request.app[STORAGE]
    reference = _reference(request)
    try:
        digest = await asyncio.to_thread(storage.resolve, repo, reference)
    except CorralError as exc:
        raise RegistryHTTPError(400, "MANIFEST_INVALID", str(exc)) from None
    if digest is None:
        raise RegistryHTTPError(404, "MANIFEST_UNKNOWN", f'manifest "{repo}:{reference}" not found')
    data = await asyncio.to_thread(storage.read_manifest, digest)
    try:
        media_type = json.loads(data).get("mediaType") or MEDIA_MANIFEST
    except (ValueError, AttributeError):
        media_type = MEDIA_MANIFEST
    headers = {"Docker-Content-Digest": digest, "Content-Type": str(media_type)}
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(data))
        return web.Response(headers=headers)
    return web.Response(body=data, headers=headers)


async def _put_manifest(request: web.Request) -> web.Response:
    repo = _repo(request)
    _authorize(request, WRITE, repo)
    reference = _reference(request)
    data = await request.content.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise RegistryHTTPError(413, "SIZE_INVALID", "manifest is too large")
    try:
        Manifest.from_json(data, source=f"{repo}:{reference}")
    except StoreError as exc:
        raise RegistryHTTPError(400, "MANIFEST_INVALID", str(exc)) from None
    try:
        digest = await asyncio.to_thread(request.app[STORAGE].put_manifest, repo, reference, data)
    except NotFound as exc:
        raise RegistryHTTPError(400, "MANIFEST_BLOB_UNKNOWN", str(exc)) from None
    except DigestMismatch:
        raise
    except InvalidRequest as exc:
        raise RegistryHTTPError(400, "MANIFEST_INVALID", str(exc)) from None
    location = _url(request, f"/v2/{repo}/manifests/{digest}")
    return web.Response(status=201, headers={"Location": location, "Docker-Content-Digest": digest})


async def _delete_manifest(request: web.Request) -> web.Response:
    repo = _repo(request)
    _authorize(request, WRITE, repo)
    reference = _reference(request)
    if not await asyncio.to_thread(request.app[STORAGE].delete_manifest, repo, reference):
        raise RegistryHTTPError(404, "MANIFEST_UNKNOWN", f'manifest "{repo}:{reference}" not found')
    return web.Response(status=202)


async def _get_blob(request: web.Request) -> web.StreamResponse:
    repo = _repo(request)
    _authorize(request, READ, repo)
    digest = parse_digest(request.match_info["digest"])
    storage = request.app[STORAGE]
    if not await asyncio.to_thread(storage.blobs.exists, digest):
        raise RegistryHTTPError(404, "BLOB_UNKNOWN", f'blob "{digest}" not found')
    return send_blob(request, storage.blobs.path(digest), digest)


def send_blob(request: web.Request, path: Path, digest: str) -> web.StreamResponse:
    """A blob's bytes (ranges and HEAD included) with the headers registries send."""
    headers = {
        "Docker-Content-Digest": digest,
        "Content-Type": "application/octet-stream",
        "Location": str(request.url.with_query(None)),
        "ETag": f'"{digest}"',
    }
    return web.FileResponse(path, chunk_size=_CHUNK, headers=headers)


async def _delete_blob(request: web.Request) -> web.Response:
    repo = _repo(request)
    _authorize(request, WRITE, repo)
    digest = parse_digest(request.match_info["digest"])
    outcome = await asyncio.to_thread(request.app[STORAGE].delete_blob, digest)
    if outcome == "missing":
        raise RegistryHTTPError(404, "BLOB_UNKNOWN", f'blob "{digest}" not found')
    if outcome == "in use":
        raise RegistryHTTPError(405, "DENIED", f'blob "{digest}" is used by a tagged manifest')
    return web.Response(status=202)


def _url(request: web.Request, path: str) -> str:
    """An absolute URL on this registry: Ollama's client cannot follow a relative Location."""
    return f"{request.scheme}://{request.host}{path}"


def _upload_headers(
    request: web.Request, repo: Repository, upload_id: str, offset: int
) -> dict[str, str]:
    location = _url(request, f"/v2/{repo}/blobs/uploads/{upload_id}")
    headers = {
        "Location": location,
        "Docker-Upload-UUID": upload_id,
        "Range": f"0-{max(offset - 1, 0)}",
    }
    return headers


async def _append(request: web.Request, path: Path, offset: int) -> int:
    """Append the request body to an upload file at `offset`; returns the new offset."""

    def open_at() -> Any:
        handle = open(path, "r+b")  # noqa: SIM115 - closed below
        handle.truncate(offset)
        handle.seek(offset)
        return handle

    handle = await asyncio.to_thread(open_at)
    try:
        buffered = bytearray()
        async for chunk in request.content.iter_chunked(_CHUNK):
            buffered += chunk
            if len(buffered) >= 4 * _CHUNK:
                await asyncio.to_thread(handle.write, bytes(buffered))
                offset += len(buffered)
                buffered.clear()
        if buffered:
            await asyncio.to_thread(handle.write, bytes(buffered))
            offset += len(buffered)
    finally:
        await asyncio.to_thread(handle.close)
    return offset


async def _start_upload(request: web.Request) -> web.Response:
    repo = _repo(request)
    _authorize(request, WRITE, repo)
    storage = request.app[STORAGE]
    mount = request.query.get("mount")
    if mount:
        digest = parse_digest(mount)
        source = request.query.get("from", "")
        if await asyncio.to_thread(storage.blobs.exists, digest) and source:
            # Blobs are shared by every repository here, so any readable source mounts.
            return web.Response(
                status=201,
                headers={
                    "Location": _url(request, f"/v2/{repo}/blobs/{digest}"),
                    "Docker-Content-Digest": digest,
                },
            )
    upload_id = await asyncio.to_thread(storage.start_upload)
    digest_param = request.query.get("digest")
    if digest_param:  # monolithic upload: the body is the whole blob
        digest = parse_digest(digest_param)
        path = await asyncio.to_thread(storage.upload_path, upload_id)
        await _append(request, path, 0)
        await asyncio.to_thread(storage.finish_upload, upload_id, digest)
        return web.Response(
            status=201,
            headers={
                "Location": _url(request, f"/v2/{repo}/blobs/{digest}"),
                "Docker-Content-Digest": digest,
            },
        )
    return web.Response(status=202, headers=_upload_headers(request, repo, upload_id, 0))


def _upload_id(request: web.Request) -> tuple[Repository, str, Path]:
    repo = _repo(request)
    _authorize(request, WRITE, repo)
    upload_id = request.match_info["upload"]
    try:
        path = request.app[STORAGE].upload_path(upload_id)
    except NotFound:
        raise RegistryHTTPError(
            404, "BLOB_UPLOAD_UNKNOWN", f'upload "{upload_id[:64]}" not found'
        ) from None
    return repo, upload_id, path


async def _upload_status(request: web.Request) -> web.Response:
    repo, upload_id, path = _upload_id(request)
    offset = (await asyncio.to_thread(path.stat)).st_size
    return web.Response(status=204, headers=_upload_headers(request, repo, upload_id, offset))


async def _patch_upload(request: web.Request) -> web.Response:
    repo, upload_id, path = _upload_id(request)
    offset = (await asyncio.to_thread(path.stat)).st_size
    content_range = request.headers.get("Content-Range")
    if content_range:
        parsed = parse_content_range(content_range)
        # Resuming: a chunk may restart anywhere up to what was received so far.
        if parsed is None or parsed[0] > offset:
            headers = _upload_headers(request, repo, upload_id, offset)
            raise RegistryHTTPError(
                416,
                "BLOB_UPLOAD_INVALID",
                f'Content-Range "{content_range}" does not continue the upload at byte {offset}',
                headers,
            )
        offset = parsed[0]
    offset = await _append(request, path, offset)
    return web.Response(status=202, headers=_upload_headers(request, repo, upload_id, offset))


async def _finish_upload(request: web.Request) -> web.Response:
    repo, upload_id, path = _upload_id(request)
    storage = request.app[STORAGE]
    digest_param = request.query.get("digest")
    if not digest_param:
        raise RegistryHTTPError(400, "DIGEST_INVALID", "the digest query parameter is required")
    try:
        digest = parse_digest(digest_param)
    except InvalidDigest:
        await asyncio.to_thread(storage.cancel_upload, upload_id)
        raise
    offset = (await asyncio.to_thread(path.stat)).st_size
    if request.can_read_body:
        await _append(request, path, offset)
    await asyncio.to_thread(storage.finish_upload, upload_id, digest)
    return web.Response(
        status=201,
        headers={
            "Location": _url(request, f"/v2/{repo}/blobs/{digest}"),
            "Docker-Content-Digest": digest,
        },
    )


async def _cancel_upload(request: web.Request) -> web.Response:
    _, upload_id, _ = _upload_id(request)
    await asyncio.to_thread(request.app[STORAGE].cancel_upload, upload_id)
    return web.Response(status=204)


def create_registry_app(
    root: Path,
    *,
    tokens: dict[str, str] | None = None,
    middlewares: tuple[Any, ...] = (),
) -> web.Application:
    """The registry application serving the storage at `root`.

    Args:
        root: the registry's directory.
        tokens: `{token: "read"|"write"}`; None or empty leaves the registry open.
        middlewares: extra middlewares run inside the error handler (tests wrap blobs).
    """
    app = web.Application(middlewares=[_errors, *middlewares], client_max_size=MAX_MANIFEST_BYTES)
    app[STORAGE] = RegistryStorage(root)
    app[POLICY] = AccessPolicy(dict(tokens or {}))
    repo = "/v2/{ns}/{model}"
    r = app.router
    r.add_get("/v2/", _base)
    r.add_get("/v2", _base)
    r.add_get("/v2/token", _token)
    r.add_get("/v2/_catalog", _catalog)
    r.add_get(f"{repo}/tags/list", _tags)
    r.add_get(f"{repo}/manifests/{{reference}}", _get_manifest)  # GET also answers HEAD
    r.add_put(f"{repo}/manifests/{{reference}}", _put_manifest)
    r.add_delete(f"{repo}/manifests/{{reference}}", _delete_manifest)
    r.add_post(f"{repo}/blobs/uploads/", _start_upload)
    r.add_post(f"{repo}/blobs/uploads", _start_upload)
    r.add_get(f"{repo}/blobs/uploads/{{upload}}", _upload_status)
    r.add_patch(f"{repo}/blobs/uploads/{{upload}}", _patch_upload)
    r.add_put(f"{repo}/blobs/uploads/{{upload}}", _finish_upload)
    r.add_delete(f"{repo}/blobs/uploads/{{upload}}", _cancel_upload)
    r.add_get(f"{repo}/blobs/{{digest}}", _get_blob)
    r.add_delete(f"{repo}/blobs/{{digest}}", _delete_blob)
    return app

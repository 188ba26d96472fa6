"""A test fixture wrapping the real registry app (`create_registry_app`) with faults.

Run as `python tests/integration/registry_wrapper.py --root DIR --port N [options]`:

--throttle BPS      serve blob bytes at about BPS bytes/second (so a test can kill it mid-blob)
--corrupt           flip one byte of every blob body it serves (same length)
--redirect-to URL   answer blob GETs with 307 to URL/storage/<digest> (another origin)
--realm URL         advertise this token realm in 401 challenges instead of its own
--bad-manifest      serve a manifest whose layers hold a zero digest and a traversal digest
--storage           be a plain storage server: GET /storage/<digest> from DIR/blobs
--record FILE       append one JSON line per request: method, path, range, authorization
--token-file FILE   as `corral registry serve`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from aiohttp import web

from corral.registry.server import STORAGE, create_registry_app, load_tokens, send_blob
from corral.store.digests import parse_digest


def _recorder(record: Path | None):  # type: ignore[no-untyped-def]
    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if record is not None:
            line = {
                "method": request.method,
                "path": request.path,
                "range": request.headers.get("Range"),
                "authorization": request.headers.get("Authorization"),
                "host": request.host,
            }
            with record.open("a") as out:
                out.write(json.dumps(line) + "\n")
        return await handler(request)

    return middleware


def _is_blob_get(request: web.Request) -> bool:
    parts = request.path.split("/")
    return request.method == "GET" and len(parts) == 6 and parts[4] == "blobs"


def _range(request: web.Request, size: int) -> tuple[int, int]:
    header = request.headers.get("Range", "")
    if header.startswith("bytes="):
        start_text, _, end_text = header[6:].partition("-")
        start = int(start_text)
        end = int(end_text) if end_text else size - 1
        return start, min(end, size - 1)
    return 0, size - 1


async def _stream(
    request: web.Request, path: Path, *, throttle: int, corrupt: bool
) -> web.StreamResponse:
    size = path.stat().st_size  # noqa: ASYNC240 - a test fixture
    start, end = _range(request, size)
    status = 206 if request.headers.get("Range") else 200
    response = web.StreamResponse(status=status)
    response.content_length = end - start + 1
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    response.headers["Location"] = str(request.url)
    await response.prepare(request)
    chunk = 256 * 1024
    with path.open("rb") as source:
        source.seek(start)
        position = start
        while position <= end:
            data = bytearray(source.read(min(chunk, end + 1 - position)))
            if corrupt and position <= size // 2 < position + len(data):
                data[size // 2 - position] ^= 0xFF
            await response.write(bytes(data))
            position += len(data)
            if throttle:
                await asyncio.sleep(len(data) / throttle)
    return response


def build(args: argparse.Namespace) -> web.Application:
    root = Path(args.root)
    if args.storage:
        app = web.Application(middlewares=[_recorder(args.record)])

        async def storage(request: web.Request) -> web.StreamResponse:
            digest = parse_digest(request.match_info["digest"])
            path = root / "blobs" / ("sha256-" + digest[7:])
            return send_blob(request, path, digest)

        app.router.add_get("/storage/{digest}", storage)
        return app

    @web.middleware
    async def faults(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if args.bad_manifest and request.method == "GET" and "/manifests/" in request.path:
            bad = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "digest": "sha256:" + "0" * 64,
                    "size": 2,
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.ollama.image.model",
                        "digest": "sha256:" + "0" * 64,
                        "size": 2,
                    },
                    {
                        "mediaType": "application/vnd.ollama.image.model",
                        "digest": "../../../../" + args.bad_manifest,
                        "size": 2,
                    },
                ],
            }
            return web.json_response(bad)
        if _is_blob_get(request) and (args.throttle or args.corrupt or args.redirect_to):
            response = await handler(request)  # the real app: auth, validation, 404s
            if not isinstance(response, web.FileResponse):
                return response
            digest = parse_digest(request.path.split("/")[5])
            if args.redirect_to:
                return web.Response(
                    status=307, headers={"Location": f"{args.redirect_to}/storage/{digest}"}
                )
            path = request.app[STORAGE].blobs.path(digest)
            return await _stream(request, path, throttle=args.throttle, corrupt=args.corrupt)
        try:
            return await handler(request)
        except Exception as exc:
            # The app's own error (a 401 challenge) is rendered by its outer middleware.
            headers = getattr(exc, "headers", None)
            if args.realm and isinstance(headers, dict) and "WWW-Authenticate" in headers:
                headers["WWW-Authenticate"] = (
                    f'Bearer realm="{args.realm}",service="corral-registry",scope="x"'
                )
            raise

    tokens = load_tokens(Path(args.token_file)) if args.token_file else None
    return create_registry_app(root, tokens=tokens, middlewares=(_recorder(args.record), faults))


async def main(args: argparse.Namespace) -> None:
    runner = web.AppRunner(build(args), handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, args.address, args.port).start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--throttle", type=int, default=0)
    parser.add_argument("--corrupt", action="store_true")
    parser.add_argument("--redirect-to", default="")
    parser.add_argument("--realm", default="")
    parser.add_argument("--bad-manifest", default="")
    parser.add_argument("--storage", action="store_true")
    parser.add_argument("--record", type=Path, default=None)
    parser.add_argument("--token-file", default="")
    asyncio.run(main(parser.parse_args()))

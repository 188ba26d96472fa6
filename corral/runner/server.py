"""The runner's local HTTP server and process entry point.

It binds its Unix socket (or loopback port) at once, loads the model on the engine's
worker thread, answers `/health` (503 while loading), and streams `/completion` as
NDJSON, which the worker writes itself once the headers are out (`body.py`). Loading
failures print one `error loading model: ...` line on stderr and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import HttpVersion11, web

from corral import eventloop
from corral.errors import CorralError, InvalidRequest, RunnerError

from .body import Bodies, Rest, ndjson
from .config import RunnerConfig, parse_args
from .engine import Engine
from .events import Event, Failed, Started
from .lifeline import set_parent_death_signal, start_parent_watchdog
from .params import parse_completion, parse_detokenize, parse_embedding, parse_tokenize

__all__ = ["ENGINE", "create_app", "main", "serve"]

logger = logging.getLogger(__name__)

ENGINE = web.AppKey("engine", Engine)


BODIES = web.AppKey("bodies", Bodies)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CorralError as exc:
        return _error(exc.status, exc.message)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None


def _ready(request: web.Request) -> Engine:
    engine = request.app[ENGINE]
    if engine.state == "loading":
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": "the model is still loading"}),
            content_type="application/json",
        )
    if engine.state != "ok":
        raise RunnerError(f"the runner cannot serve requests (state {engine.state})")
    return engine


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    bodies = request.app[BODIES]
    if engine.state == "ok" and engine.info is not None:
        info = engine.info
        return web.json_response(
            {
                "status": "ok",
                "n_ctx": info.n_ctx,
                "n_ctx_train": info.n_ctx_train,
                "n_vocab": info.n_vocab,
                "n_parallel": info.n_parallel,
                "graphs_reused": engine.graphs_reused,
                "chunks_written_by_worker": bodies.written_by_worker,
                "bodies_handed_back": bodies.handed_back,
            }
        )
    if engine.state == "loading":
        return web.json_response(
            {"status": "loading", "progress": round(engine.progress, 3)}, status=503
        )
    return web.json_response({"status": engine.state}, status=503)


async def completion(request: web.Request) -> web.StreamResponse:
    req = parse_completion(await _body(request))
    engine = _ready(request)
    if engine.config.embedding:
        raise InvalidRequest("this runner was started with --embedding and cannot generate text")
    body = request.app[BODIES].open()
    job = engine.submit(req, body.sink)
    try:
        (first, *rest) = await body.take()
        if isinstance(first, Failed):
            return _error(first.error.status, first.error.message)
        assert isinstance(first, Started)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        chunked = request.version >= HttpVersion11
        if chunked:
            response.enable_chunked_encoding()
        await response.prepare(request)
        finished = False
        while not finished:
            finished = await _send(request, response, rest or await body.take())
            rest = []
            if not finished:
                body.hand_over(request.transport, chunked=chunked)
        await response.write_eof()
        return response
    finally:
        body.close()
        # A no-op after Done; after a disconnect it frees the slot at the next token.
        job.cancel()


async def _send(
    request: web.Request, response: web.StreamResponse, items: list[Event | Rest]
) -> bool:
    """Send what the loop was given, in order; whether it ended the stream.

    Pieces that piled up while the reader was slow go out in one write.
    """
    data = b""
    finished = False
    for item in items:
        if isinstance(item, Rest):
            if data:
                await response.write(data)
                data = b""
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the reader has gone")
            transport.write(item.data)  # framed already
            finished = item.finished
        else:
            line, finished = ndjson(item)
            data += line
        if finished:
            break
    if data:
        await response.write(data)
    return finished


async def tokenize(request: web.Request) -> web.Response:
    req = parse_tokenize(await _body(request))
    tokens = await asyncio.wrap_future(_ready(request).tokenize(req))
    return web.json_response({"tokens": tokens})


async def detokenize(request: web.Request) -> web.Response:
    req = parse_detokenize(await _body(request))
    content = await asyncio.wrap_future(_ready(request).detokenize(req))
    return web.json_response({"content": content})


async def embedding(request: web.Request) -> web.Response:
    req = parse_embedding(await _body(request))
    engine = _ready(request)
    vectors, count = await asyncio.wrap_future(engine.embed(req))
    return web.json_response({"embeddings": vectors, "prompt_eval_count": count})


def create_app(engine: Engine, bodies: Bodies) -> web.Application:
    """The runner's aiohttp application around `engine`."""
    app = web.Application(middlewares=[_errors], client_max_size=256 * 1024 * 1024)
    app[ENGINE] = engine
    app[BODIES] = bodies
    app.router.add_get("/health", health)
    app.router.add_post("/completion", completion)
    app.router.add_post("/tokenize", tokenize)
    app.router.add_post("/detokenize", detokenize)
    app.router.add_post("/embedding", embedding)
    return app


async def serve(config: RunnerConfig) -> int:
    """Serve until SIGTERM/SIGINT (0) or a failed load (1); returns the exit code."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[int] = loop.create_future()

    def finish(code: int) -> None:
        if not finished.done():
            finished.set_result(code)

    def load_failed(reason: str) -> None:
        if engine.state != "stopped" and not finished.done():
            what = "error loading model" if engine.info is None else "error"
            sys.stderr.write(f"{what}: {reason}\n")
            sys.stderr.flush()
            finish(1)

    engine = Engine(config)
    runner = web.AppRunner(
        create_app(engine, Bodies(loop)),
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    site = (
        web.TCPSite(runner, config.host, config.port)
        if config.socket is None
        else web.UnixSite(runner, config.socket)
    )
    try:
        await site.start()
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on {site.name}: {exc.strerror}\n")
        await runner.cleanup()
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish, 0)
    logger.info("listening on %s model=%s", site.name, config.model)
    engine.start(
        on_ready=_announce_ready,
        on_failed=lambda reason: _call_soon(loop, load_failed, reason),
    )
    code = await finished
    await asyncio.to_thread(engine.stop)
    try:
        await asyncio.wait_for(runner.cleanup(), 3.0)
    except TimeoutError:
        pass
    return code


def _announce_ready() -> None:
    """Tell the daemon on stdout (one `ready` line) that the model is loaded."""
    logger.info("ready")
    try:
        os.write(sys.stdout.fileno(), b"ready\n")
    except (OSError, ValueError):
        pass  # nobody reads our stdout


def _await_assignment(standby_args: Sequence[str]) -> list[str] | None:
    """As a spare (`--standby --parent-pid N`): wait on stdin for the real arguments.

    The imports are done by then, which is the point. Returns None when stdin closes
    first: the daemon no longer needs this spare.
    """
    parent = _standby_parent(standby_args)
    set_parent_death_signal()
    if parent is not None:
        start_parent_watchdog(parent)
    line = sys.stdin.readline()
    if not line.strip():
        return None
    args = json.loads(line)
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise SystemExit("error: a spare runner expects a JSON list of arguments on stdin")
    return args


def _standby_parent(args: Sequence[str]) -> int | None:
    if len(args) == 2 and args[0] == "--parent-pid" and args[1].isdigit():
        return int(args[1])
    if args:
        raise SystemExit(f"error: --standby takes only --parent-pid N, not {' '.join(args)}")
    return None


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[str], None], arg: str) -> None:
    try:
        loop.call_soon_threadsafe(fn, arg)
    except RuntimeError:  # the loop already closed
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m corral.runner`."""
    given = list(sys.argv[1:] if argv is None else argv)
    standby = given[:1] == ["--standby"]
    args = _await_assignment(given[1:]) if standby else given
    if args is None:
        return 0
    config = parse_args(args)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if config.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not standby:  # a spare set up its lifeline while it waited
        set_parent_death_signal()
        if config.parent_pid is not None:
            start_parent_watchdog(config.parent_pid)
    code = eventloop.run(serve(config))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: llama.cpp's threads and ggml backends do not survive it well.
    os._exit(code)

"""The aiohttp application: state, middlewares, lifetimes and the route table."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from corral import envconfig, eventloop
from corral.daemon import (
    routes_anthropic as anthropic,
    routes_embed as emb,
    routes_generate as gen,
    routes_models as models,
    routes_openai as openai,
    routes_system as system,
)
from corral.daemon.middleware import error_middleware
from corral.daemon.modelinfo import ModelInfoCache
from corral.daemon.runners import (
    RunnerHandle,
    RunnerSpec,
    SubprocessRunner,
    remove_stale_runner_homes,
)
from corral.daemon.scheduler import Scheduler
from corral.daemon.security import add_cors_headers, guard_middleware
from corral.daemon.settings import Settings
from corral.daemon.spares import SpareRunners
from corral.daemon.state import STATE, DaemonState
from corral.gguf import MemoryEstimate
from corral.gpu import MemorySnapshot, probe
from corral.store import Store

__all__ = ["create_app", "serve"]

logger = logging.getLogger(__name__)

StartRunner = Callable[[RunnerSpec, float], Awaitable[RunnerHandle]]


async def _probe_memory() -> MemorySnapshot:
    return await asyncio.to_thread(probe)


def create_app(
    settings: Settings,
    *,
    start_runner: StartRunner | None = None,
    memory: Callable[[], Awaitable[MemorySnapshot]] = _probe_memory,
) -> web.Application:
    """Build the daemon's application; collaborators are arguments so tests can swap them.

    `start_runner` defaults to spawning `python -m corral.runner` subprocesses, taking the
    spare runner when `settings.spare_runner` keeps one.
    """
    spares = SpareRunners() if settings.spare_runner and start_runner is None else None

    async def start_subprocess_runner(spec: RunnerSpec, load_timeout: float) -> RunnerHandle:
        return await SubprocessRunner.start(spec, load_timeout=load_timeout, spares=spares)

    app = web.Application(
        middlewares=[error_middleware, guard_middleware(settings)],
        client_max_size=settings.max_body,
    )
    app.on_response_prepare.append(add_cors_headers)
    store = Store(settings.models)
    infos = ModelInfoCache()

    async def estimate(spec: RunnerSpec) -> MemoryEstimate:
        return await state.estimate(spec)

    scheduler = Scheduler(
        start_runner=start_runner or start_subprocess_runner,
        memory=memory,
        estimate=estimate,
        max_loaded=settings.max_loaded_models,
        max_queue=settings.max_queue,
        load_timeout=settings.load_timeout,
        default_keep_alive=settings.keep_alive,
    )
    state = DaemonState(
        settings=settings, store=store, scheduler=scheduler, infos=infos, store_lock=asyncio.Lock()
    )
    app[STATE] = state

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        swept = await asyncio.to_thread(remove_stale_runner_homes)
        if swept:
            logger.info("removed %d runner directories left by a killed daemon", swept)
        if not settings.no_prune:
            removed = await asyncio.to_thread(store.blobs.remove_stale_temp_files, 86400.0)
            if removed:
                logger.info("removed %d stale partial files", removed)
        if spares is not None:
            spares.replenish()
        yield
        await scheduler.shutdown()
        if spares is not None:
            await spares.close()

    async def stop_runners(app: web.Application) -> None:
        # Runs once the listener is closed and before aiohttp waits for open handlers:
        # streams then end with an error line at once instead of running on.
        await scheduler.shutdown()
        if spares is not None:
            await spares.close()

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(stop_runners)
    app.router.add_route("GET", "/", models.root)
    app.router.add_route("HEAD", "/", models.root)
    app.router.add_route("GET", "/api/version", models.version)
    app.router.add_route("HEAD", "/api/version", models.version)
    app.router.add_route("GET", "/api/tags", models.tags)
    app.router.add_route("HEAD", "/api/tags", models.tags)
    app.router.add_post("/api/show", models.show)
    app.router.add_post("/api/copy", models.copy)
    app.router.add_delete("/api/delete", models.delete)
    app.router.add_route("HEAD", "/api/blobs/{digest}", models.blob_exists)
    app.router.add_post("/api/blobs/{digest}", models.blob_upload)
    app.router.add_post("/api/create", models.create)
    app.router.add_post("/api/pull", models.pull)
    app.router.add_post("/api/push", models.push)
    app.router.add_get("/api/ps", models.ps)
    app.router.add_get("/api/system", system.system)
    app.router.add_post("/api/generate", gen.generate)
    app.router.add_post("/api/chat", gen.chat)
    app.router.add_post("/v1/chat/completions", openai.chat_completions)
    app.router.add_post("/v1/completions", openai.completions)
    app.router.add_get("/v1/models", openai.list_models)
    app.router.add_get("/v1/models/{model:.+}", openai.retrieve_model)
    app.router.add_post("/v1/messages", anthropic.messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic.count_tokens)
    app.router.add_post("/api/embed", emb.embed)
    app.router.add_post("/api/embeddings", emb.embeddings)
    app.router.add_post("/v1/embeddings", emb.openai_embeddings)
    return app


async def _serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host.host, settings.host.port)
    await site.start()
    logger.info("corral listening on %s (models in %s)", settings.host.url, settings.models)
    if not settings.host.is_loopback and not settings.api_key:
        logger.warning(
            "listening on %s without CORRAL_API_KEY: anyone who reaches it can use every endpoint",
            settings.host.url,
        )
    if "*" in settings.origins:
        logger.warning("CORRAL_ORIGINS=* lets every web page call this server")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        logger.info("shutting down")
        await runner.cleanup()


def serve(settings: Settings | None = None) -> None:
    """Run the daemon until SIGINT or SIGTERM; every runner is stopped on the way out."""
    settings = settings or Settings.from_env()
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for var in envconfig.describe():
        logger.debug("config %s=%s", var.name, var.value)
    eventloop.run(_serve(settings))

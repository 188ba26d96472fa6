"""The daemon's shared state, reached from handlers through one AppKey."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from corral.daemon.modelinfo import ModelFacts, ModelInfoCache
from corral.daemon.runners import RunnerSpec
from corral.daemon.scheduler import Scheduler
from corral.daemon.settings import Settings
from corral.errors import ModelNotFound
from corral.gguf import MemoryEstimate, estimate_memory
from corral.store import Store

__all__ = ["STATE", "DaemonState"]

DEFAULT_NUM_CTX = 4096


@dataclass
class DaemonState:
    """Everything handlers share: settings, store, scheduler, GGUF cache, store lock."""

    settings: Settings
    store: Store
    scheduler: Scheduler
    infos: ModelInfoCache
    store_lock: asyncio.Lock

    async def facts(self, name: str) -> ModelFacts:
        """Resolve a model name to its stored model and GGUF header.

        Raises:
            ModelNotFound: with Ollama's "try pulling it first" hint.
            InvalidModelName: the name breaks the naming rules.
        """
        try:
            model = await asyncio.to_thread(self.store.get, name)
        except ModelNotFound:
            raise ModelNotFound(f'model "{name}" not found, try pulling it first') from None
        return await self.infos.facts(model)

    def spec_for(
        self, facts: ModelFacts, options: Mapping[str, Any], *, embedding: bool = False
    ) -> RunnerSpec:
        """The runner a request needs, from merged options and the daemon's settings.

        `embedding` asks for an embedding runner even for a generative model: llama.cpp
        pools its hidden states (the GGUF's pooling type, else mean).
        """
        assert facts.model.model_path is not None
        num_ctx = int(options.get("num_ctx") or self.settings.context_length or DEFAULT_NUM_CTX)
        trained = facts.context_length
        if trained:
            num_ctx = min(num_ctx, trained)
        embedding = embedding or facts.is_embedding
        pooling = ""
        if embedding and (facts.gguf is None or facts.gguf.pooling_type is None):
            pooling = "mean"
        # Ollama's convention: a negative num_gpu (the default -1) means "decide from the fit".
        num_gpu = options.get("num_gpu")
        return RunnerSpec(
            model_path=facts.model.model_path,
            num_ctx=max(4, num_ctx),
            num_parallel=1 if embedding else self.settings.num_parallel,
            num_batch=int(options.get("num_batch") or 512),
            num_thread=int(options.get("num_thread") or self.settings.num_thread),
            num_gpu=None if num_gpu is None or int(num_gpu) < 0 else int(num_gpu),
            use_mmap=bool(options.get("use_mmap", True)),
            adapters=facts.model.adapters,
            embedding=embedding,
            pooling=pooling,
            # llama.cpp takes one projector, as Ollama's runner does: the first.
            projector=None
            if embedding or not facts.model.projectors
            else facts.model.projectors[0],
        )

    async def estimate(self, spec: RunnerSpec) -> MemoryEstimate:
        """The footprint of `spec` from its GGUF header (`num_parallel` decided)."""
        info = await self.infos.gguf(spec.model_path)
        return estimate_memory(info, num_ctx=spec.num_ctx, num_parallel=max(1, spec.num_parallel))


STATE = web.AppKey("state", DaemonState)

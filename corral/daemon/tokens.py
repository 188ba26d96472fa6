"""Counting a chat's prompt tokens: the model's template, then its runner's tokenizer."""

from __future__ import annotations

import asyncio

from corral.api import ChatRequest, merge_options
from corral.daemon.prompts import render_chat
from corral.daemon.state import DaemonState

__all__ = ["count_chat_tokens"]


async def count_chat_tokens(state: DaemonState, req: ChatRequest) -> int:
    """How many tokens the rendered prompt of `req` takes (loads the model if needed).

    Raises:
        ModelNotFound: no such model.
        UnsupportedCapability: the model cannot chat, or cannot take the tools.
    """
    facts = await state.facts(req.model)
    facts.require("completion", "chat")
    if req.tools:
        facts.require("tools", "tools")
    options = merge_options(facts.model.params, req.options)
    prompt, _images = await asyncio.to_thread(render_chat, facts, req)
    spec = state.spec_for(facts, options)
    async with state.scheduler.use(facts.display_name, spec, keep_alive=req.keep_alive) as runner:
        return len(await runner.handle.tokenize(prompt))

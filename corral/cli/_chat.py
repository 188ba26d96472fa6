"""Starting the REPL from `corral run`: the saved-sessions store, `--resume`, one event loop."""

from __future__ import annotations

import asyncio

from corral import envconfig
from corral.client import AsyncClient
from corral.errors import NotFound
from corral.repl import ChatState, Repl
from corral.sessions import SessionStore

__all__ = ["resume_session", "start_chat"]


def resume_session(store: SessionStore, state: ChatState, resume: int | str) -> None:
    """Put saved session `resume` (a number, or "latest" of `state.model`) into `state`.

    The session's system message and options apply unless the command line set them.

    Raises:
        NotFound: no such session, or none saved for the model.
    """
    if resume == "latest":
        session = store.latest(state.model)
        if session is None:
            raise NotFound(f"no saved session for model '{state.model}' to resume")
    else:
        session = store.get(int(resume))
    state.session_id = session.id
    state.messages = [message.to_chat() for message in session.messages]
    if state.system is None:
        state.system = session.system
    state.options = {**session.options, **state.options}


def start_chat(state: ChatState, resume: int | str | None = None) -> None:
    """Chat on the terminal until /bye or Ctrl+D; every exchange is saved."""
    state.history = not envconfig.no_history()
    with SessionStore() as store:
        if resume is not None:
            resume_session(store, state, resume)
        asyncio.run(_chat(state, store))


async def _chat(state: ChatState, store: SessionStore) -> None:
    async with AsyncClient() as client:
        await Repl(client, state, store=store).run()

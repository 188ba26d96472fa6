"""The chat sidebar: saved sessions, most recent first, and full-text search over them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from corral.errors import CorralError
from corral.tui.services import deferred, services

__all__ = ["ChatSidebar"]


class ChatSidebar(Vertical):
    """Lists sessions; typing searches every message (FTS5); picking one posts `Opened`."""

    DEFAULT_CSS = """
    ChatSidebar { width: 26; border-right: solid $panel; }
    ChatSidebar Input { margin: 0; }
    ChatSidebar OptionList { height: 1fr; border: none; }
    """

    @dataclass
    class Opened(Message):
        session_id: int

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search chats", id="search")
        yield OptionList(id="sessions")

    def on_mount(self) -> None:
        self.refresh_list()

    def refresh_list(self) -> None:
        text = self.query_one("#search", Input).value
        self.run_worker(
            deferred(self._fill, text), group="sidebar", exclusive=True, exit_on_error=False
        )

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        self.refresh_list()

    async def _fill(self, text: str) -> None:
        store = services(self).store
        options: list[Option] = []
        try:
            if text.strip():
                for hit in await asyncio.to_thread(store.search, text, 50):
                    options.append(
                        Option(
                            f"#{hit.session_id} {hit.snippet}",
                            id=f"s{hit.session_id}-{len(options)}",
                        )
                    )
            else:
                for summary in await asyncio.to_thread(store.recent, 50):
                    options.append(Option(f"#{summary.id} {summary.title}", id=f"s{summary.id}"))
        except CorralError as exc:
            self.notify(exc.message, severity="error", title="sessions")
            return
        listing = self.query_one("#sessions", OptionList)
        listing.clear_options()
        listing.add_options(options)

    @property
    def entries(self) -> list[str]:
        listing = self.query_one("#sessions", OptionList)
        return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]

    @on(OptionList.OptionSelected, "#sessions")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        self.post_message(self.Opened(int(option_id[1:].split("-")[0])))
